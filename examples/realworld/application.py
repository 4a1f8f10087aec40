"""`create_app()`: build the container and the FastAPI application (nothing runs at import)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from examples.realworld import auth, endpoints
from examples.realworld.bootstrap import create_tables
from examples.realworld.containers import RealWorldContainer
from examples.realworld.errors import register_handlers
from examples.realworld.security import DEVELOPMENT_SECRET
from orm_fastapi import configure_database, settings_from_env, setup_orm

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./realworld.db"


def create_app(
    database: Mapping[str, Any] | None = None, *, jwt_secret: str | None = None
) -> FastAPI:
    """Build Conduit.

    Database settings come from `database` (url, pool_size, ...), else from
    `DATABASE_URL` and friends, else the SQLite file `realworld.db` in the working
    directory. Tokens are signed with `jwt_secret`, else `JWT_SECRET`, else a
    development secret.
    """
    container = RealWorldContainer()
    configure_database(
        container, {"url": DEFAULT_DATABASE_URL, **settings_from_env(), **(database or {})}
    )
    container.config.jwt_secret.from_value(
        jwt_secret or os.environ.get("JWT_SECRET") or DEVELOPMENT_SECRET
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await create_tables(container.database())
        yield

    app = FastAPI(title="Conduit", version="1.0", lifespan=lifespan)
    setup_orm(app, container, modules=[auth, endpoints])
    register_handlers(app)
    app.include_router(endpoints.router)
    return app
