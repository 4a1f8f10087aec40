"""FastAPI integration: container, wiring, error handlers, health and CRUD routers."""

__all__: list[str] = []
