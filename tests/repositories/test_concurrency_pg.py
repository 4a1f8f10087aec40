"""Writes under real concurrency on PostgreSQL: many tasks, each with its own unit of work.

Each test has a control or a counter that could fail, so a passing run shows the
safety comes from the method under test and not from the tasks happening to run
one after another.
"""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from orm_core import (
    ConcurrentModificationError,
    Database,
    TransactionConflictError,
    retry_transaction,
)
from tests.models import Account, Product
from tests.support import ShopUoW

pytestmark = pytest.mark.postgres


async def seed_product(database: Database, **values) -> int:
    row = {"sku": "HOT", "name": "Hot", "price": Decimal("1"), "stock": 0, **values}
    async with ShopUoW(database) as uow:
        return (await uow.products.create(**row)).id


async def stored_product(database: Database, id: int) -> Product:
    async with ShopUoW(database) as uow:
        return await uow.products.get_one(id)


# -- counters ---------------------------------------------------------------------------------


async def test_concurrent_increments_never_lose_an_update(database):
    pid = await seed_product(database)
    tasks, per_task, per_unit = 50, 200, 10

    async def worker() -> None:
        for _ in range(per_task // per_unit):  # 1,000 transactions in all
            async with ShopUoW(database) as uow:
                for _ in range(per_unit):
                    assert await uow.products.increment(pid, "view_count") is not None

    await asyncio.gather(*(worker() for _ in range(tasks)))
    assert (await stored_product(database, pid)).view_count == tasks * per_task


async def test_control_read_modify_write_through_the_orm_loses_updates(database):
    """The same work done as read, add, write: concurrent writers overwrite each other."""
    pid = await seed_product(database)
    tasks, per_task = 50, 10

    async def worker() -> None:
        for _ in range(per_task):
            async with ShopUoW(database) as uow:
                product = await uow.products.get_one(pid)
                await asyncio.sleep(0)  # let the other tasks read the same value
                product.view_count += 1

    await asyncio.gather(*(worker() for _ in range(tasks)))
    assert (await stored_product(database, pid)).view_count < tasks * per_task


async def test_flash_sale_sells_exactly_the_stock(database):
    pid = await seed_product(database, stock=100)

    async def buy() -> bool:
        async with ShopUoW(database) as uow:
            return await uow.products.decrement(pid, "stock", min_value=0) is not None

    sold = await asyncio.gather(*(buy() for _ in range(300)))
    assert sold.count(True) == 100
    assert (await stored_product(database, pid)).stock == 0


# -- optimistic locking -------------------------------------------------------------------------


async def test_one_of_twenty_writers_holding_the_same_version_wins(database):
    async with ShopUoW(database) as uow:
        account = await uow.accounts.create(owner="ann", balance=Decimal("100"))
    start = asyncio.Event()

    async def writer(n: int) -> str:
        await start.wait()
        try:
            async with ShopUoW(database) as uow:
                await uow.accounts.update_with_lock(account, balance=Decimal(n))
        except ConcurrentModificationError:
            return "lost"
        return "won"

    tasks = [asyncio.create_task(writer(n)) for n in range(20)]
    start.set()
    results = await asyncio.gather(*tasks)
    assert results.count("won") == 1 and results.count("lost") == 19
    async with ShopUoW(database) as uow:
        assert (await uow.accounts.get_one(account.id)).version == 2


async def test_stale_plain_flushes_of_a_versioned_row_fail(database):
    async with ShopUoW(database) as uow:
        account_id = (await uow.accounts.create(owner="ann", balance=Decimal("100"))).id
    everyone_read = asyncio.Barrier(20)

    async def writer(n: int) -> str:
        try:
            async with ShopUoW(database) as uow:
                account = await uow.accounts.get_one(account_id)
                await everyone_read.wait()  # all twenty now hold version 1
                account.balance = Decimal(n)
        except ConcurrentModificationError:
            return "lost"
        return "won"

    results = await asyncio.gather(*(writer(n) for n in range(20)))
    assert results.count("won") == 1 and results.count("lost") == 19
    async with ShopUoW(database) as uow:
        assert (await uow.accounts.get_one(account_id)).version == 2


# -- pessimistic locking ------------------------------------------------------------------------


async def test_workers_claiming_jobs_with_skip_locked_claim_each_exactly_once(database):
    async with ShopUoW(database) as uow:
        await uow.jobs.bulk_create({"status": "pending"} for _ in range(1_000))
    claimed: dict[int, list[int]] = {}

    async def worker(n: int) -> None:
        mine = claimed.setdefault(n, [])
        rng = random.Random(n)
        while True:
            async with ShopUoW(database) as uow:
                pending = await uow.jobs.list(status="pending", order_by="id", limit=200)
                if not pending:
                    return
                window = rng.sample([j.id for j in pending], min(25, len(pending)))
                for job in await uow.jobs.lock_many(window, skip_locked=True):
                    if job.status != "pending":  # claimed and committed since we listed it
                        continue
                    job.status, job.claimed_by = "claimed", n
                    job.attempts += 1
                    mine.append(job.id)

    await asyncio.gather(*(worker(n) for n in range(8)))
    everything = [job_id for ids in claimed.values() for job_id in ids]
    assert len(everything) == 1_000 and len(set(everything)) == 1_000
    assert sum(1 for ids in claimed.values() if ids) > 1  # the work really was shared
    async with ShopUoW(database) as uow:
        assert await uow.jobs.count(status="claimed", attempts=1) == 1_000


async def test_bank_transfers_keep_the_total_and_never_deadlock(database):
    accounts, start_balance = 10, Decimal("1000")
    async with ShopUoW(database) as uow:
        await uow.accounts.bulk_create(
            {"owner": f"owner-{i}", "balance": start_balance} for i in range(accounts)
        )
        ids = [a.id for a in await uow.accounts.list()]
    total = start_balance * accounts
    attempts = 0
    writers_done = asyncio.Event()

    async def transfer(rng: random.Random) -> None:
        source, target = rng.sample(ids, 2)
        amount = Decimal(rng.randint(1, 300))

        async def work(uow: ShopUoW) -> None:
            nonlocal attempts
            attempts += 1
            by_id = {a.id: a for a in await uow.accounts.lock_many([source, target])}
            if by_id[source].balance >= amount:
                by_id[source].balance -= amount
                by_id[target].balance += amount

        await retry_transaction(lambda: ShopUoW(database), work, attempts=5)

    async def writer(n: int) -> None:
        rng = random.Random(n)
        for _ in range(100):
            await transfer(rng)

    async def reader() -> list[tuple[Decimal, Decimal]]:
        seen = []
        while not writers_done.is_set():
            async with ShopUoW(database, read_only=True) as uow:
                stmt = select(func.sum(Account.balance), func.min(Account.balance))
                seen.append(tuple((await uow.session.execute(stmt)).one()))
            await asyncio.sleep(0.005)
        return seen

    readers = [asyncio.create_task(reader()) for _ in range(2)]
    await asyncio.gather(*(writer(n) for n in range(20)))
    writers_done.set()
    reads = [r for task in readers for r in await task]
    assert attempts == 2_000  # locks taken in key order: not one deadlock to retry
    assert len(reads) > 10
    assert all(s == total and low >= 0 for s, low in reads)
    async with ShopUoW(database) as uow:
        final = await uow.accounts.list()
    assert sum(a.balance for a in final) == total and min(a.balance for a in final) >= 0
    assert any(a.balance != start_balance for a in final)


# -- retries ------------------------------------------------------------------------------------


async def test_serializable_read_modify_write_under_retry_transaction(database):
    pid = await seed_product(database)
    attempts = 0

    async def work(uow: ShopUoW) -> None:
        nonlocal attempts
        attempts += 1
        product = await uow.products.get_one(pid)
        await asyncio.sleep(0.01)  # overlap with the other tasks' transactions
        product.stock += 1

    await asyncio.gather(
        *(
            retry_transaction(
                lambda: ShopUoW(database, isolation_level="SERIALIZABLE"), work, attempts=50
            )
            for _ in range(8)
        )
    )
    assert (await stored_product(database, pid)).stock == 8
    assert attempts > 8  # conflicts happened and were retried


async def test_without_retries_serializable_conflicts_reach_the_caller(database):
    pid = await seed_product(database)

    async def once() -> None:
        async with ShopUoW(database, isolation_level="SERIALIZABLE") as uow:
            product = await uow.products.get_one(pid)
            await asyncio.sleep(0.01)
            product.stock += 1

    results = await asyncio.gather(*(once() for _ in range(8)), return_exceptions=True)
    conflicts = [r for r in results if isinstance(r, TransactionConflictError)]
    assert conflicts and len(conflicts) + (await stored_product(database, pid)).stock == 8


# -- racing inserts -----------------------------------------------------------------------------


async def test_concurrent_get_or_create_of_one_key_makes_one_row(database):
    async def one() -> tuple[int, bool]:
        async with ShopUoW(database) as uow:
            product, created = await uow.products.get_or_create(
                sku="ONE", defaults={"name": "One", "price": Decimal("1")}
            )
            return product.id, created

    results = await asyncio.gather(*(one() for _ in range(100)))
    assert len({pid for pid, _ in results}) == 1
    assert [created for _, created in results].count(True) == 1
    async with ShopUoW(database) as uow:
        assert await uow.products.count() == 1


async def test_concurrent_upserts_of_one_key_make_one_row(database):
    async def one(n: int) -> int:
        async with ShopUoW(database) as uow:
            product = await uow.products.upsert(
                conflict_fields=["sku"], sku="ONE", name=f"v{n}", price=Decimal("1"), stock=n
            )
            assert product.stock == n  # each caller sees its own write
            return product.id

    ids = await asyncio.gather(*(one(n) for n in range(100)))
    assert len(set(ids)) == 1
    async with ShopUoW(database) as uow:
        assert await uow.products.count() == 1
