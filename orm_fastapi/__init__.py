"""FastAPI integration: the container, error handlers, health and CRUD routers."""

from orm_fastapi.container import OrmContainer, configure_database, settings_from_env
from orm_fastapi.handlers import register_error_handlers
from orm_fastapi.health import health_router, health_routes
from orm_fastapi.idempotency import IdempotencyMiddleware, idempotent
from orm_fastapi.openapi import ErrorBody, error_responses
from orm_fastapi.router import crud_router
from orm_fastapi.setup import setup_orm

__all__ = [
    "ErrorBody",
    "IdempotencyMiddleware",
    "OrmContainer",
    "configure_database",
    "crud_router",
    "error_responses",
    "health_router",
    "health_routes",
    "idempotent",
    "register_error_handlers",
    "settings_from_env",
    "setup_orm",
]
