"""One `database` fixture, parametrised over SQLite (a temp file) and PostgreSQL.

Each pytest run gets its own PostgreSQL database, so concurrent runs never meet.
Set ORM_TEST_POSTGRES_URL to point elsewhere; with ORM_REQUIRE_POSTGRES=1 a
missing server fails the run instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import MetaData, text
from sqlalchemy.engine import make_url

from orm_core import Base, Database

POSTGRES_URL = os.environ.get(
    "ORM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("ORM_REQUIRE_POSTGRES") == "1"
# the PostgreSQL half of the suite run again through PgBouncer in transaction pooling mode
THROUGH_PGBOUNCER = make_url(POSTGRES_URL).query.get("pgbouncer") == "true"
_POSTGRES_FIXTURES = frozenset({"postgres_url", "postgres_db", "db_url", "database"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Through PgBouncer, keep only the tests that reach PostgreSQL and need no server session."""
    if not THROUGH_PGBOUNCER:
        return
    kept, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        on_sqlite = any(value == "sqlite" for value in params.values())
        reaches = _POSTGRES_FIXTURES & set(getattr(item, "fixturenames", ()))
        session = item.get_closest_marker("server_session") or item.get_closest_marker("sqlite")
        (kept if reaches and not on_sqlite and not session else dropped).append(item)
    config.hook.pytest_deselected(items=dropped)
    items[:] = kept


def _plain_dsn(url: str) -> str:
    plain = make_url(url).set(drivername="postgresql", query={})
    return plain.render_as_string(hide_password=False)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(_plain_dsn(POSTGRES_URL), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """Create a private database for this run; None (or a failure) when unreachable."""
    name = f"orm_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required (ORM_REQUIRE_POSTGRES=1) but unreachable: {exc}")
        yield None
        return
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


_prepared: set[str] = set()


@pytest.fixture(params=["sqlite", "postgres"])
async def database(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str | None
) -> AsyncIterator[Database]:
    """A `Database` with every test model's table created and empty."""
    backend = request.param
    marker_skip = {"sqlite": "postgres", "postgres": "sqlite"}[backend]
    marked = request.node.get_closest_marker
    if marked(marker_skip) and not marked(backend):
        pytest.skip(f"{marker_skip} only")
    if backend == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        await db.create_all(Base.metadata)
        yield db
        await db.dispose()
        return
    if postgres_url is None:
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL}; set ORM_REQUIRE_POSTGRES=1 to fail")
    db = Database(postgres_url, pool_size=20, max_overflow=20)
    if postgres_url not in _prepared:
        await db.create_all(Base.metadata)
        _prepared.add(postgres_url)
    try:
        yield db
    finally:
        await _truncate(db)
        await db.dispose()


async def _truncate(db: Database) -> None:
    """Empty the tables a test filled and restart the sequences it used.

    Deleting the few rows a test leaves is far cheaper than truncating every table,
    which syncs a new file per table and index to disk.
    """
    tables = Base.metadata.sorted_tables
    probe = " UNION ALL ".join(
        f'SELECT {index} WHERE EXISTS (SELECT 1 FROM "{table.name}")'
        for index, table in enumerate(tables)
    )
    async with db.engine.begin() as conn:
        filled = {row[0] for row in await conn.execute(text(probe))}
        for index, table in reversed(list(enumerate(tables))):
            if index in filled:
                await conn.execute(text(f'DELETE FROM "{table.name}"'))
        # last_value is NULL until a sequence is used (or after setval(..., false))
        await conn.execute(
            text(
                "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, 1, false)"
                " FROM pg_sequences WHERE last_value IS NOT NULL"
                " AND schemaname = current_schema()"
            )
        )


@contextmanager
def side_database(
    postgres_url: str, suffix: str, prepare: Callable[[Database], Awaitable[None]]
) -> Iterator[str]:
    """A second PostgreSQL database next to the run's, prepared once, dropped afterwards.

    Examples whose tables share names with the test models' live there; a database of
    their own needs no connection setting such as `search_path` (PgBouncer refuses it).
    """
    name = f"{make_url(postgres_url).database}_{suffix}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)

    async def run() -> None:
        database = Database(url)
        try:
            await prepare(database)
        finally:
            await database.dispose()

    try:
        asyncio.run(run())
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def empty_tables(database: Database, metadata: MetaData) -> None:
    """Empty every table of `metadata` and restart their sequences (a few small tables)."""
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with database.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
