"""Statement and lock timeouts: set on the database or per unit of work, on each backend."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text

from orm_core import (
    Database,
    InvalidQueryError,
    LockNotAvailableError,
    QueryTimeoutError,
    TransactionConflictError,
    UnitOfWork,
)
from tests.support import ShopUoW, product_row

# a statement that runs for about as long as asked, on each backend
SLOW = {
    "postgresql": "SELECT pg_sleep(5)",
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
    "SELECT count(*) FROM n",  # never ends on its own
}


async def seeded(database) -> int:
    async with ShopUoW(database) as uow:
        return (await uow.products.create(**product_row(1))).id


async def hold_the_row(database, ident: int, held: asyncio.Event, release: asyncio.Event):
    async with ShopUoW(database) as uow:
        await uow.products.update(ident, stock=1)  # write-locks the row (the database on SQLite)
        held.set()
        await release.wait()


@pytest.mark.parametrize("where", ["unit", "database"])
async def test_a_statement_past_its_timeout_is_a_query_timeout_error(database, where):
    db = database if where == "unit" else Database(database.url, statement_timeout=0.3)
    options = {"statement_timeout": 0.3} if where == "unit" else {}
    try:
        started = time.monotonic()
        with pytest.raises(QueryTimeoutError):
            async with UnitOfWork(db, **options) as uow:
                await uow.session.execute(text(SLOW[database.dialect]))
        assert time.monotonic() - started < 3
        async with UnitOfWork(db) as uow:  # the connection is usable again
            assert (await uow.session.execute(text("SELECT 1"))).scalar() == 1
    finally:
        if db is not database:
            await db.dispose()


async def test_a_units_timeout_does_not_outlive_the_unit(database):
    async with UnitOfWork(database, statement_timeout=0.2) as uow:
        await uow.session.execute(text("SELECT 1"))
    sleep = "SELECT pg_sleep(0.4)" if database.dialect == "postgresql" else "SELECT 1"
    async with UnitOfWork(database) as uow:  # the same pooled connection, no timeout
        await uow.session.execute(text(sleep))


@pytest.mark.postgres
async def test_a_row_lock_waited_for_past_the_lock_timeout_is_a_query_timeout_error(database):
    ident = await seeded(database)
    held, release = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(hold_the_row(database, ident, held, release))
    await held.wait()
    try:
        started = time.monotonic()
        with pytest.raises(QueryTimeoutError):
            async with ShopUoW(database, lock_timeout=0.3) as uow:
                await uow.products.update(ident, stock=2)
        assert time.monotonic() - started < 2
        with pytest.raises(LockNotAvailableError):  # NOWAIT stays what it was
            async with ShopUoW(database, lock_timeout=0.3) as uow:
                await uow.products.select_for_update(ident, nowait=True)
    finally:
        release.set()
        await holder


@pytest.mark.sqlite
async def test_sqlite_lock_timeout_is_its_busy_timeout(database):
    ident = await seeded(database)
    held, release = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(hold_the_row(database, ident, held, release))
    await held.wait()
    try:
        started = time.monotonic()
        with pytest.raises(TransactionConflictError):
            async with ShopUoW(database, lock_timeout=0.3) as uow:
                await uow.products.update(ident, stock=2)
        assert 0.25 < time.monotonic() - started < 3
    finally:
        release.set()
        await holder


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "1", True])
def test_bad_timeouts_are_refused(database, bad):
    with pytest.raises(InvalidQueryError):
        UnitOfWork(database, statement_timeout=bad)
    with pytest.raises(InvalidQueryError):
        Database("sqlite+aiosqlite://", lock_timeout=bad)
