"""increment and decrement: one atomic UPDATE, bounds, validation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orm_core import ConstraintError, InvalidQueryError
from tests.models import Product
from tests.support import ShopUoW, recorded


async def seed(database, **values) -> Product:
    row = {"sku": "A-1", "name": "Widget", "price": Decimal("9.99"), "stock": 10, **values}
    async with ShopUoW(database) as uow:
        return await uow.products.create(**row)


async def stored(database, id) -> Product:
    async with ShopUoW(database) as uow:
        return await uow.products.get_one(id)


async def test_increment_adds_and_returns_the_entity_with_the_new_value(database):
    product = await seed(database)
    async with ShopUoW(database) as uow:
        once = await uow.products.increment(product.id, "view_count")
        assert once.view_count == 1
        more = await uow.products.increment(product.id, "view_count", 5)
        assert more is once and more.view_count == 6
    assert more.updated_at > product.updated_at
    assert (await stored(database, product.id)).view_count == 6


async def test_increment_refreshes_the_copy_the_session_holds(database):
    product = await seed(database)
    async with ShopUoW(database) as uow:
        held = await uow.products.get_one(product.id)
        returned = await uow.products.decrement(product.id, "stock", 3)
        assert returned is held and held.stock == 7


async def test_increment_is_one_update_statement(database):
    product = await seed(database)
    with recorded(database) as log:
        async with ShopUoW(database) as uow:
            await uow.products.increment(product.id, "stock", 2, max_value=100)
    sent = [s for s in log.sql if not s.startswith(("BEGIN", "COMMIT"))]
    assert len(sent) == 1
    assert sent[0].startswith("UPDATE products SET stock=(products.stock +")
    assert "RETURNING" in sent[0] and "<=" in sent[0]


async def test_max_value_stops_an_increment_that_would_exceed_it(database):
    product = await seed(database, stock=8)
    async with ShopUoW(database) as uow:
        assert (await uow.products.increment(product.id, "stock", 2, max_value=10)).stock == 10
        assert await uow.products.increment(product.id, "stock", 1, max_value=10) is None
    assert (await stored(database, product.id)).stock == 10


async def test_min_value_stops_a_decrement_that_would_cross_it(database):
    product = await seed(database, stock=3)
    async with ShopUoW(database) as uow:
        assert await uow.products.decrement(product.id, "stock", 4, min_value=0) is None
        assert (await uow.products.decrement(product.id, "stock", 3, min_value=0)).stock == 0
        assert await uow.products.decrement(product.id, "stock", 1, min_value=0) is None
    assert (await stored(database, product.id)).stock == 0


async def test_a_missing_or_soft_deleted_row_gives_none(database):
    async with ShopUoW(database) as uow:
        assert await uow.products.increment(12345, "stock") is None
        job = await uow.jobs.create(status="pending")
        assert (await uow.jobs.increment(job.id, "attempts")).attempts == 1
        await uow.jobs.soft_delete(job.id)
        assert await uow.jobs.increment(job.id, "attempts") is None
        assert (await uow.jobs.with_deleted().increment(job.id, "attempts")).attempts == 2


async def test_decimal_counters_and_versioned_models(database):
    async with ShopUoW(database) as uow:
        account = await uow.accounts.create(owner="ann", balance=Decimal("10.00"))
    async with ShopUoW(database) as uow:
        paid = await uow.accounts.decrement(account.id, "balance", Decimal("2.50"), min_value=0)
        assert paid.balance == Decimal("7.50")
        # a holder of the old version must not overwrite this write with a stale balance
        assert paid.version == account.version + 1
        assert await uow.accounts.decrement(account.id, "balance", 8, min_value=0) is None


async def test_the_database_still_enforces_its_own_constraints(database):
    product = await seed(database, stock=1)
    with pytest.raises(ConstraintError):
        async with ShopUoW(database) as uow:
            await uow.products.decrement(product.id, "stock", 2)
    assert (await stored(database, product.id)).stock == 1


@pytest.mark.parametrize(
    ("field", "amount", "bound", "fragment"),
    [
        ("nope", 1, None, "unknown field"),
        ("name", 1, None, "not a numeric field"),
        ("id", 1, None, "not a numeric field"),
        ("stock", "1", None, "must be a number"),
        ("stock", True, None, "must be a number"),
        ("stock", None, None, "must be a number"),
        ("stock", 1.5, None, "expected an integer"),
        ("stock", -1, None, "must not be negative"),
        ("stock", 2**40, None, "out of range"),
        ("price", Decimal("NaN"), None, "finite"),
        ("stock", 1, "10", "must be a number"),
        ("stock", 1, 1.5, "expected an integer"),
    ],
)
async def test_bad_fields_amounts_and_bounds_fail_before_any_sql(
    database, field, amount, bound, fragment
):
    product = await seed(database)
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError, match=fragment):
            await uow.products.increment(product.id, field, amount, max_value=bound)
        with pytest.raises(InvalidQueryError, match=fragment):
            await uow.products.decrement(product.id, field, amount, min_value=bound)
        assert not uow.session.in_transaction()


async def test_the_version_column_and_bad_ids_are_rejected(database):
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError, match="not a numeric field"):
            await uow.accounts.increment(1, "version")
        with pytest.raises(InvalidQueryError):
            await uow.products.increment("one", "stock")
        with pytest.raises(InvalidQueryError):
            await uow.products.increment(1, 5)
