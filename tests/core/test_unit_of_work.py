from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import text

from orm_core import Database, TransactionError, UnitOfWork
from orm_repositories import AsyncRepository
from tests.models import Account, Product


class ProductRepository(AsyncRepository[Product]):
    async def by_sku(self, sku: str) -> Product | None:
        return await self.first(sku=sku)


class ShopUnitOfWork(UnitOfWork):
    products: ProductRepository
    accounts: AsyncRepository[Account]


async def _count_products(db: Database) -> int:
    row = await db.fetch_one("SELECT count(*) AS n FROM products")
    assert row is not None
    return int(row["n"])


async def _make(uow: ShopUnitOfWork, sku: str) -> Product:
    return await uow.products.create(sku=sku, name=sku, price=Decimal("1.00"))


async def test_commits_on_clean_exit(database):
    async with ShopUnitOfWork(database) as uow:
        await _make(uow, "A")
    assert await _count_products(database) == 1


async def test_rolls_back_and_reraises_on_exception(database):
    with pytest.raises(RuntimeError, match="boom"):
        async with ShopUnitOfWork(database) as uow:
            await _make(uow, "A")
            raise RuntimeError("boom")
    assert await _count_products(database) == 0


async def test_reentering_an_active_unit_of_work_raises(database):
    uow = ShopUnitOfWork(database)
    async with uow:
        with pytest.raises(TransactionError):
            async with uow:
                pass


async def test_session_outside_the_block_raises(database):
    uow = ShopUnitOfWork(database)
    with pytest.raises(TransactionError):
        _ = uow.session
    with pytest.raises(TransactionError):
        _ = uow.products
    async with uow:
        pass
    with pytest.raises(TransactionError):
        _ = uow.session


async def test_instance_can_be_entered_again_with_a_fresh_session(database):
    uow = ShopUnitOfWork(database)
    async with uow:
        first = uow.session
        await _make(uow, "A")
    async with uow:
        assert uow.session is not first
        assert await uow.products.count() == 1


async def test_annotated_repositories_are_built_once_per_block(database):
    uow = ShopUnitOfWork(database)
    async with uow:
        assert isinstance(uow.products, ProductRepository)
        assert uow.products is uow.products
        assert uow.accounts.model is Account
        assert uow.products.session is uow.session
        assert uow.repository(ProductRepository) is uow.products
        assert uow.repository(Product).model is Product
        assert uow.repository(AsyncRepository[Account]).model is Account
        with pytest.raises(AttributeError):
            _ = uow.nothing_here  # type: ignore[attr-defined]


async def test_explicit_commit_keeps_work_when_later_work_fails(database):
    with pytest.raises(RuntimeError):
        async with ShopUnitOfWork(database) as uow:
            await _make(uow, "A")
            await uow.commit()
            await _make(uow, "B")
            raise RuntimeError("late failure")
    async with ShopUnitOfWork(database) as uow:
        assert [p.sku for p in await uow.products.list()] == ["A"]


async def test_explicit_rollback_discards_and_block_continues(database):
    async with ShopUnitOfWork(database) as uow:
        await _make(uow, "A")
        await uow.rollback()
        await _make(uow, "B")
    async with ShopUnitOfWork(database) as uow:
        assert [p.sku for p in await uow.products.list()] == ["B"]


async def test_savepoint_rolls_back_only_its_own_work(database):
    async with ShopUnitOfWork(database) as uow:
        await _make(uow, "A")
        with pytest.raises(ValueError):
            async with uow.savepoint():
                await _make(uow, "B")
                raise ValueError("inner")
        await _make(uow, "C")
    async with ShopUnitOfWork(database) as uow:
        assert sorted(p.sku for p in await uow.products.list()) == ["A", "C"]


async def test_nested_savepoints_unwind_separately(database):
    async with ShopUnitOfWork(database) as uow, uow.savepoint():
        await _make(uow, "A")
        with pytest.raises(KeyError):
            async with uow.savepoint():
                await _make(uow, "B")
                raise KeyError("x")
    async with ShopUnitOfWork(database) as uow:
        assert [p.sku for p in await uow.products.list()] == ["A"]


async def test_on_commit_runs_once_after_commit_and_never_after_rollback(database):
    calls: list[str] = []

    async def async_hook() -> None:
        calls.append("async")

    async with ShopUnitOfWork(database) as uow:
        await _make(uow, "A")
        uow.on_commit(lambda: calls.append("sync"))
        uow.on_commit(async_hook)
        assert calls == []
    assert calls == ["sync", "async"]

    with pytest.raises(RuntimeError):
        async with ShopUnitOfWork(database) as uow:
            uow.on_commit(lambda: calls.append("never"))
            raise RuntimeError
    async with ShopUnitOfWork(database) as uow:
        uow.on_commit(lambda: calls.append("rolled back"))
        await uow.rollback()
    assert calls == ["sync", "async"]


async def test_on_commit_outside_the_block_raises(database):
    with pytest.raises(TransactionError):
        ShopUnitOfWork(database).on_commit(lambda: None)


async def test_read_only_unit_never_commits(database):
    async with ShopUnitOfWork(database, read_only=True) as uow:
        assert await uow.products.count() == 0
        with pytest.raises(TransactionError):
            await uow.commit()
    assert await _count_products(database) == 0


async def test_entities_from_a_read_only_unit_stay_readable_after_it_ends(database):
    async with ShopUnitOfWork(database) as uow:
        await _make(uow, "A")
    async with ShopUnitOfWork(database, read_only=True) as uow:
        product = await uow.products.get_one(1)
    assert product.sku == "A" and product.updated_at.tzinfo is not None
    assert product.price == Decimal("1.00")


@pytest.mark.postgres
async def test_read_only_unit_rejects_writes_on_postgres(database):
    with pytest.raises(TransactionError) as refused:
        async with ShopUnitOfWork(database, read_only=True) as uow:
            await _make(uow, "A")
    assert "read-only" in refused.value.message
    assert await _count_products(database) == 0


@pytest.mark.postgres
async def test_isolation_level_applies_to_every_transaction_of_the_block(database):
    async with ShopUnitOfWork(database, isolation_level="SERIALIZABLE") as uow:
        level = (await uow.session.execute(text("SHOW transaction_isolation"))).scalar_one()
        assert level == "serializable"
        await uow.commit()
        level = (await uow.session.execute(text("SHOW transaction_isolation"))).scalar_one()
        assert level == "serializable"
    async with ShopUnitOfWork(database) as uow:
        level = (await uow.session.execute(text("SHOW transaction_isolation"))).scalar_one()
        assert level == "read committed"


async def test_unknown_isolation_level_is_rejected(database):
    with pytest.raises(TransactionError):
        ShopUnitOfWork(database, isolation_level="SOMETIMES")


async def test_cancelled_task_returns_its_connection(database):
    started = asyncio.Event()

    async def work() -> None:
        async with ShopUnitOfWork(database) as uow:
            await _make(uow, "A")
            started.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(work())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert database.pool_status()["checked_out"] == 0
    assert await _count_products(database) == 0


async def test_two_writers_that_read_first_both_succeed(database):
    async def writer(sku: str) -> None:
        async with ShopUnitOfWork(database) as uow:
            await uow.products.count()
            await asyncio.sleep(0.05)
            await _make(uow, sku)

    await asyncio.gather(*(writer(f"W{i}") for i in range(5)))
    assert await _count_products(database) == 5
