"""Pooled PostgreSQL connections are pinged at checkout only after sitting idle.

A connection the server dropped while it sat idle past the window is replaced without the
caller noticing; one dropped a moment after its last use is not pinged (one round trip saved
on every busy checkout), so its next use fails once, cleanly, and the pool replaces it.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, text

import orm_core.pinging
from orm_core import Database, DatabaseUnavailableError, UnitOfWork

# a backend pid names one server session: not through PgBouncer
pytestmark = [pytest.mark.postgres, pytest.mark.server_session]

WINDOW = 0.2


@pytest.fixture
def url(postgres_url: str | None) -> str:
    if postgres_url is None:
        pytest.skip("PostgreSQL unreachable; set ORM_REQUIRE_POSTGRES=1 to fail")
    return postgres_url


@pytest.fixture
def short_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orm_core.pinging, "IDLE_BEFORE_PING", WINDOW)


async def backend_pid(db: Database) -> int:
    return int((await db.fetch_all("SELECT pg_backend_pid() AS pid"))[0]["pid"])


async def terminate(url: str, pid: int) -> None:
    admin = Database(url, pool_size=1)
    try:
        await admin.fetch_all("SELECT pg_terminate_backend(:pid)", {"pid": pid})
    finally:
        await admin.dispose()
    await asyncio.sleep(0.05)  # the server closes the socket


async def test_a_connection_dropped_while_idle_is_replaced_unnoticed(url, short_window):
    db = Database(url, pool_size=1, max_overflow=0)
    try:
        first = await backend_pid(db)
        await terminate(url, first)
        await asyncio.sleep(WINDOW + 0.1)
        async with UnitOfWork(db) as uow:  # the ping fails; the pool connects again
            second = (await uow.session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert second != first
    finally:
        await db.dispose()


async def test_a_connection_used_a_moment_ago_is_not_pinged(url, short_window):
    db = Database(url, pool_size=1, max_overflow=0)
    try:
        first = await backend_pid(db)
        await terminate(url, first)
        # within the window the dead connection is handed out as it is: one clean failure
        with pytest.raises(DatabaseUnavailableError):
            await backend_pid(db)
        assert await backend_pid(db) != first  # and the pool has replaced it
    finally:
        await db.dispose()


async def test_every_checkout_is_pinged_when_pool_pre_ping_is_asked_for(url):
    db = Database(url, pool_size=1, max_overflow=0, pool_pre_ping=True)
    try:
        first = await backend_pid(db)
        await terminate(url, first)
        assert await backend_pid(db) != first  # SQLAlchemy's own ping, at once
    finally:
        await db.dispose()


async def test_a_healthy_connection_idle_past_the_window_is_kept(url, short_window):
    """The ping must succeed on a live connection: a failing ping replaces every
    connection that sat idle, one new connection (and its set-up) per quiet request."""
    db = Database(url, pool_size=1, max_overflow=0)
    opened: list[object] = []
    event.listen(db.engine.sync_engine, "connect", lambda connection, _record: opened.append(1))
    try:
        first = await backend_pid(db)
        for _ in range(2):
            await asyncio.sleep(WINDOW + 0.1)
            assert await backend_pid(db) == first
        assert len(opened) == 1
    finally:
        await db.dispose()
