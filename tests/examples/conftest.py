"""Fixtures for the RealWorld example: its own tables next to the shared test database.

Conduit's tables (`users`, `articles`, ...) are its own metadata's, so they live in a
second SQLite file, or in a PostgreSQL database of their own brought up to date once by the
example's Alembic migrations and emptied after each test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from dependency_injector import providers
from fastapi import FastAPI

from examples.realworld.application import create_app
from examples.realworld.bootstrap import create_tables
from examples.realworld.models import RealWorldBase
from examples.realworld.security import Passwords
from orm_core import Database
from tests.conftest import empty_tables, side_database


@pytest.fixture(scope="session")
def realworld_postgres_url(postgres_url: str | None) -> Iterator[str | None]:
    """Conduit's own PostgreSQL database, migrated once for the whole run."""
    if postgres_url is None:
        yield None
        return
    with side_database(postgres_url, "realworld", create_tables) as url:
        yield url


@pytest.fixture
async def realworld_database(
    database: Database, tmp_path: Path, realworld_postgres_url: str | None
) -> AsyncIterator[Database]:
    """A database holding Conduit's tables, on the backend of the shared `database` fixture."""
    if database.is_sqlite:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'realworld.db'}")
        await create_tables(db)
        yield db
        assert db.pool_status()["checked_out"] == 0
        await db.dispose()
        return
    assert realworld_postgres_url is not None
    db = Database(realworld_postgres_url, pool_size=20, max_overflow=20)
    try:
        yield db
        assert db.pool_status()["checked_out"] == 0
    finally:
        await empty_tables(db, RealWorldBase.metadata)
        await db.dispose()


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
