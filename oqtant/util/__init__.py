"""Helpers kept at the import paths notebooks written for the reference client use."""

__all__: list[str] = []
