"""A unit of work's connection killed at each step: nothing half-written, a documented error.

The server process behind the unit's connection is ended with `pg_terminate_backend`
before its first write, between writes, before COMMIT and while COMMIT runs (a deferred
trigger keeps COMMIT busy), ten times each. Every time the unit raises the documented
error, no row of it is stored, and the pool hands out working connections afterwards.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from orm_core import CommitUnknownError, DatabaseUnavailableError
from tests.support import ShopUoW, product_row

pytestmark = pytest.mark.postgres

ROUNDS = 10
SLOW_COMMIT = (
    "CREATE OR REPLACE FUNCTION orm_test_slow_commit() RETURNS trigger AS $$"
    " BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$ LANGUAGE plpgsql",
    "CREATE CONSTRAINT TRIGGER orm_test_slow_commit AFTER INSERT ON products"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION orm_test_slow_commit()",
)
NO_SLOW_COMMIT = (
    "DROP TRIGGER IF EXISTS orm_test_slow_commit ON products",
    "DROP FUNCTION IF EXISTS orm_test_slow_commit()",
)


async def kill(database, pid: int) -> None:
    async with database.engine.connect() as admin:
        await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await admin.commit()


async def unit_killed(database, step: str, round_: int) -> BaseException:
    """Run one unit writing three rows, ending its server process at `step`."""
    rows = [product_row(round_ * 10 + n) for n in range(3)]
    killer: asyncio.Task[None] | None = None

    async def kill_soon(pid: int) -> None:
        await asyncio.sleep(0.1)  # COMMIT has started: its deferred trigger sleeps
        await kill(database, pid)

    try:
        async with ShopUoW(database) as uow:
            pid = (await uow.session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            if step == "before writes":
                await kill(database, pid)
            for index, row in enumerate(rows):
                await uow.products.create(**row)
                if step == "between writes" and index == 1:
                    await kill(database, pid)
            if step == "before commit":
                await kill(database, pid)
            if step == "during commit":
                killer = asyncio.create_task(kill_soon(pid))
    except (DatabaseUnavailableError, CommitUnknownError) as exc:
        return exc
    finally:
        if killer is not None:
            await killer
    raise AssertionError(f"the unit killed {step} committed")


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("before writes", DatabaseUnavailableError),
        ("between writes", DatabaseUnavailableError),
        ("before commit", CommitUnknownError),
        ("during commit", CommitUnknownError),
    ],
)
async def test_a_killed_connection_never_leaves_a_partial_unit(database, step, expected):
    if step == "during commit":
        async with database.engine.begin() as conn:
            for statement in SLOW_COMMIT:
                await conn.exec_driver_sql(statement)
    try:
        for round_ in range(ROUNDS):
            error = await unit_killed(database, step, round_)
            assert type(error) is expected, (round_, repr(error))
            async with ShopUoW(database) as uow:
                assert await uow.products.count() == 0, f"round {round_}: a partial commit"
    finally:
        if step == "during commit":
            async with database.engine.begin() as conn:
                for statement in NO_SLOW_COMMIT:
                    await conn.exec_driver_sql(statement)
    async with ShopUoW(database) as uow:  # the pool hands out working connections
        await uow.products.create(**product_row(999))
    assert database.pool_status()["checked_out"] == 0
    async with ShopUoW(database) as uow:
        assert await uow.products.count() == 1
