"""select_for_update and lock_many: fresh state, key order, NOWAIT and SKIP LOCKED."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest
from sqlalchemy import text

from orm_core import InvalidQueryError, LockNotAvailableError
from tests.support import ShopUoW, recorded


async def seed(database, count: int = 3) -> list[int]:
    async with ShopUoW(database) as uow:
        rows = [
            await uow.products.create(sku=f"S{i}", name=f"P{i}", price=Decimal("1"), stock=i)
            for i in range(count)
        ]
        return [p.id for p in rows]


async def test_select_for_update_returns_current_state_and_refreshes_the_held_copy(database):
    [pid] = await seed(database, 1)
    async with ShopUoW(database) as uow:
        held = await uow.products.get_one(pid)
        await uow.session.execute(text("UPDATE products SET stock = 99"))  # behind its back
        assert held.stock == 0
        locked = await uow.products.select_for_update(pid)
        assert locked is held and held.stock == 99
        assert await uow.products.select_for_update(pid + 100) is None


async def test_lock_many_locks_in_key_order_in_one_statement(database):
    ids = await seed(database, 5)
    with recorded(database) as log:
        async with ShopUoW(database) as uow:
            locked = await uow.products.lock_many([ids[3], ids[0], 999, ids[3], ids[1]])
    assert [p.id for p in locked] == [ids[0], ids[1], ids[3]]
    selects = log.starting_with("SELECT")
    assert len(selects) == 1
    assert "ORDER BY products.id" in selects[0]
    if database.dialect == "postgresql":
        assert selects[0].rstrip().endswith("FOR NO KEY UPDATE")
    else:
        assert "FOR " not in selects[0]  # SQLite has no row locks


async def test_lock_many_handles_composite_keys_and_skips_soft_deleted_rows(database):
    async with ShopUoW(database) as uow:
        for group, user in [(2, 1), (1, 2), (1, 1)]:
            await uow.memberships.create(group_id=group, user_id=user)
        locked = await uow.memberships.lock_many([(2, 1), (1, 2), (1, 1)])
        assert [(m.group_id, m.user_id) for m in locked] == [(1, 1), (1, 2), (2, 1)]
        job = await uow.jobs.create()
        await uow.jobs.soft_delete(job.id)
        assert await uow.jobs.lock_many([job.id]) == []
        assert await uow.jobs.select_for_update(job.id) is None
        assert await uow.jobs.lock_many([]) == []


async def test_locking_rejects_bad_arguments_before_any_sql(database):
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError, match="not both"):
            await uow.products.select_for_update(1, nowait=True, skip_locked=True)
        with pytest.raises(InvalidQueryError, match="not both"):
            await uow.products.lock_many([1], nowait=True, skip_locked=True)
        with pytest.raises(InvalidQueryError, match="True or False"):
            await uow.products.lock_many([1], nowait="yes")
        with pytest.raises(InvalidQueryError):
            await uow.products.lock_many("12")
        with pytest.raises(InvalidQueryError):
            await uow.products.select_for_update("one")
        with pytest.raises(InvalidQueryError):
            await uow.memberships.lock_many([1])
        assert not uow.session.in_transaction()


# -- PostgreSQL: real row locks ------------------------------------------------------------


@pytest.mark.postgres
async def test_nowait_on_a_locked_row_fails_at_once(database):
    ids = await seed(database, 2)
    async with ShopUoW(database) as holder:
        await holder.products.select_for_update(ids[0])
        async with ShopUoW(database) as other:
            started = time.perf_counter()
            with pytest.raises(LockNotAvailableError):
                await other.products.select_for_update(ids[0], nowait=True)
            assert time.perf_counter() - started < 1.0
        async with ShopUoW(database) as other:
            with pytest.raises(LockNotAvailableError):
                await other.products.lock_many(ids, nowait=True)
        async with ShopUoW(database) as other:
            free = await other.products.select_for_update(ids[1], nowait=True)
            assert free is not None


@pytest.mark.postgres
async def test_skip_locked_skips_rows_locked_elsewhere(database):
    ids = await seed(database, 4)
    async with ShopUoW(database) as holder:
        await holder.products.lock_many(ids[:2])
        async with ShopUoW(database) as other:
            got = await other.products.lock_many(ids, skip_locked=True)
            assert [p.id for p in got] == ids[2:]
            assert await other.products.select_for_update(ids[0], skip_locked=True) is None


@pytest.mark.postgres
async def test_a_locked_row_does_not_block_inserting_rows_that_reference_it(database):
    """FOR NO KEY UPDATE leaves the key-share lock of a foreign-key check free."""
    [pid] = await seed(database, 1)
    async with ShopUoW(database) as holder:
        await holder.products.select_for_update(pid)
        async with ShopUoW(database) as other:
            await other.session.execute(text("SET LOCAL lock_timeout = '2s'"))
            order = await asyncio.wait_for(other.orders.create(product_id=pid), 5)
            assert order.id is not None


@pytest.mark.postgres
async def test_a_second_locker_waits_until_the_first_commits_and_sees_its_write(database):
    [pid] = await seed(database, 1)
    events: list[str] = []

    async def first() -> None:
        async with ShopUoW(database) as uow:
            product = await uow.products.select_for_update(pid)
            events.append("first locked")
            await asyncio.sleep(0.3)
            product.stock = 41
            events.append("first commits")

    async def second() -> int:
        await asyncio.sleep(0.1)
        async with ShopUoW(database) as uow:
            product = await uow.products.select_for_update(pid)
            events.append("second locked")
            product.stock += 1
            return product.stock

    _, final = await asyncio.gather(first(), second())
    assert events == ["first locked", "first commits", "second locked"]
    assert final == 42
