"""Health routes: liveness, readiness, pool metrics and query statistics.

- `GET /health/live`: the process answers; never touches the database, never guarded.
- `GET /health/db`: readiness (`Database.readiness`): "healthy", "saturated" (every
  pooled connection is checked out; answered at once, without queueing) or "unhealthy"
  (503).
- `GET /health/db/metrics`: the pool monitor's figures (`Database.pool_metrics`).
- `GET /health/db/statistics`: the query monitor's totals (`db.monitor.stats()`).

No body holds the database URL, host, port, user or password. `health_routes(dependencies=...)`
guards the three database routes with FastAPI dependencies (an API-key check, say).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.params import Depends as DependsMarker
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from orm_core import Database, DatabaseUnavailableError
from orm_fastapi.handlers import SERVER_ERROR_MESSAGES

CONTAINER_STATE_KEY = "orm_container"

UNHEALTHY_DETAIL = SERVER_ERROR_MESSAGES[DatabaseUnavailableError]


class Liveness(BaseModel):
    """The liveness answer: the process is up."""

    status: Literal["alive"]


class PoolStatus(BaseModel):
    """The pool's figures in a readiness report."""

    pool_size: int
    checked_out: int
    checked_in: int
    overflow: int


class Readiness(BaseModel):
    """The readiness report: whether the database can take work now."""

    status: Literal["healthy", "saturated", "unhealthy"]
    response_time_ms: float
    pool: PoolStatus


class Unready(Readiness):
    """The readiness report of an unreachable database (503), with the error body's fields."""

    detail: str
    error: str


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


async def liveness() -> dict[str, str]:
    """Answer that the process is alive, without touching the database."""
    return {"status": "alive"}


async def readiness(request: Request) -> JSONResponse:
    """Report whether the database can take work now: healthy, saturated or unhealthy."""
    report = await database_of(request).readiness()
    if report["status"] != "unhealthy":
        return JSONResponse(report)
    body = {**report, "detail": UNHEALTHY_DETAIL, "error": "DatabaseUnavailableError"}
    return JSONResponse(body, status_code=503)


async def pool_metrics(request: Request) -> dict[str, Any]:
    """Report the pool's size, use, saturation, waits, timeouts and checkout times."""
    return database_of(request).pool_metrics()


async def query_statistics(request: Request) -> dict[str, Any]:
    """Report the query monitor's totals: counts and durations of the statements run."""
    return database_of(request).monitor.stats()


def health_routes(*, dependencies: Sequence[Any] = ()) -> APIRouter:
    """Build the health routes; `dependencies` guard every route except `/health/live`.

    Each dependency is a callable FastAPI resolves per request, or a `Depends(...)`.
    """
    guards = [_depends(d) for d in dependencies]
    router = APIRouter(tags=["health"])
    router.add_api_route(
        "/health/live", liveness, methods=["GET"], summary="Liveness", response_model=Liveness
    )
    router.add_api_route(
        "/health/db",
        readiness,
        methods=["GET"],
        dependencies=guards,
        summary="Database readiness",
        response_model=Readiness,
        responses={503: {"model": Unready, "description": "The database is unreachable"}},
    )
    router.add_api_route(
        "/health/db/metrics",
        pool_metrics,
        methods=["GET"],
        dependencies=guards,
        summary="Connection pool metrics",
    )
    router.add_api_route(
        "/health/db/statistics",
        query_statistics,
        methods=["GET"],
        dependencies=guards,
        summary="Query statistics",
    )
    return router


def _depends(dependency: Any) -> Any:
    if isinstance(dependency, DependsMarker):
        return dependency
    if not callable(dependency):
        raise TypeError(f"a health dependency must be callable or Depends(...), not {dependency!r}")
    return Depends(dependency)


health_router = health_routes()
