"""Fixtures for the RealWorld example: its own tables next to the shared test database.

Conduit's tables (`users`, `articles`, ...) are its own metadata's, so they live in a
second SQLite file, or on PostgreSQL in a private schema (the connection's search_path
points there) brought up to date by the example's Alembic migrations.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from dependency_injector import providers
from fastapi import FastAPI
from sqlalchemy import text

from examples.realworld.application import create_app
from examples.realworld.bootstrap import create_tables
from examples.realworld.security import Passwords
from orm_core import Database


@pytest.fixture
async def realworld_database(database: Database, tmp_path: Path) -> AsyncIterator[Database]:
    """A database holding Conduit's tables, on the backend of the shared `database` fixture."""
    if database.is_sqlite:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'realworld.db'}")
        await create_tables(db)
        yield db
        assert db.pool_status()["checked_out"] == 0
        await db.dispose()
        return
    schema = f"realworld_{uuid.uuid4().hex[:8]}"
    await database.execute(f'CREATE SCHEMA "{schema}"')
    db = Database(
        database.url,
        pool_size=20,
        max_overflow=20,
        connect_args={"server_settings": {"search_path": schema}},
    )
    try:
        await create_tables(db)
        yield db
        assert db.pool_status()["checked_out"] == 0
    finally:
        await db.dispose()
        async with database.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def realworld_app(db: Database) -> FastAPI:
    """Conduit over `db`, with a cheap password hash so tests register users quickly."""
    app = create_app({"url": "sqlite+aiosqlite:///:memory:"}, jwt_secret="test-secret-" + "x" * 32)
    container = app.state.orm_container
    container.database.override(providers.Object(db))
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    container.passwords.override(providers.Object(Passwords(fast)))
    return app


@pytest.fixture
async def conduit(realworld_database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of Conduit, in process."""
    transport = httpx.ASGITransport(app=realworld_app(realworld_database))
    async with httpx.AsyncClient(transport=transport, base_url="http://conduit") as client:
        yield client
