"""`health_router`: `GET /health/db` reports the database's health (503 when unhealthy)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from orm_core import Database

health_router = APIRouter(tags=["health"])

CONTAINER_STATE_KEY = "orm_container"


def database_of(request: Request) -> Database:
    """Return the database of the container `setup_orm` attached to the application.

    Raises:
        RuntimeError: `setup_orm` was not called on this application.
    """
    container = getattr(request.app.state, CONTAINER_STATE_KEY, None)
    if container is None:
        raise RuntimeError("call setup_orm(app, container) before serving the health router")
    database: Database = container.database()
    return database


@health_router.get(
    "/health/db",
    summary="Database health",
    responses={503: {"description": "The database is unreachable"}},
)
async def database_health(request: Request) -> JSONResponse:
    """Report status, round-trip time, dialect, masked URL and pool figures."""
    report: dict[str, Any] = await database_of(request).health_check()
    status = 200 if report["status"] == "healthy" else 503
    return JSONResponse(report, status_code=status)
