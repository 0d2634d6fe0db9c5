"""The REST API: routes, dependencies, error answers."""

__all__: list[str] = []
