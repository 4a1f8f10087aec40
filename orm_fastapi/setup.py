"""`setup_orm`: wire a container into a FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import ModuleType
from typing import Any

from fastapi import FastAPI

from orm_fastapi.consistency import ConsistencyMiddleware
from orm_fastapi.handlers import register_error_handlers
from orm_fastapi.health import CONTAINER_STATE_KEY, health_routes
from orm_fastapi.idempotency import IdempotencyMiddleware
from orm_fastapi.wiring import check_wired

IDEMPOTENCY_STATE_KEY = "orm_idempotency"


def setup_orm(
    app: FastAPI,
    container: Any,
    *,
    modules: Iterable[ModuleType | str] = (),
    health: bool = True,
    health_dependencies: Sequence[Any] = (),
    idempotency: bool = False,
) -> None:
    """Wire `container` into `modules`, register the error handlers and the health routes.

    `health=False` leaves every health route out; `health_dependencies` (FastAPI
    dependencies, such as an API-key check) guard the database health routes but never
    `/health/live`. `idempotency=True` makes `crud_router` routes, and routes with the
    `idempotent` dependency, honour the `Idempotency-Key` header (`IdempotencyMiddleware`).

    A module whose injected parameters dependency-injector cannot see (string
    annotations) is refused with a `TypeError` naming the function, rather than
    served with the markers in place of the dependencies.

    Each request gets one read-your-writes scope (`ConsistencyMiddleware`): a commit
    anywhere in the request counts for its later read-only units of work.

    The database is disposed when the application shuts down: the application's
    own lifespan runs first and is wrapped, never replaced.
    """
    modules = list(modules)
    if modules:
        container.wire(modules=modules)
        check_wired(modules)
    setattr(app.state, CONTAINER_STATE_KEY, container)
    setattr(app.state, IDEMPOTENCY_STATE_KEY, idempotency)
    if idempotency:
        # inside the error handlers' catch-all: a replayed answer is not an error
        app.add_middleware(IdempotencyMiddleware)
    register_error_handlers(app)
    if health:
        app.include_router(health_routes(dependencies=health_dependencies))
    app.add_middleware(ConsistencyMiddleware)  # read-your-writes: one scope per request
    app.router.lifespan_context = _disposing(app.router.lifespan_context, container)


def _disposing(inner: Any, container: Any) -> Any:
    """Wrap a lifespan so that the container's database is disposed after it."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        context: AbstractAsyncContextManager[Any] = inner(app)
        try:
            async with context as state:
                yield state
        finally:
            try:
                database = container.database()
            except ValueError:
                database = None  # never configured, so nothing to close
            if database is not None:
                await database.dispose()

    return lifespan
