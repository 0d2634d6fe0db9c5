"""Routers of the REST API, one module per resource."""

__all__: list[str] = []
