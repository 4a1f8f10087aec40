"""update_if and update_with_lock, and optimistic locking through plain flushes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orm_core import ConcurrentModificationError, InvalidQueryError
from tests.models import Account, Product
from tests.support import ShopUoW


async def seed(database, **values) -> Product:
    row = {"sku": "A-1", "name": "Widget", "price": Decimal("9.99"), "stock": 2, **values}
    async with ShopUoW(database) as uow:
        return await uow.products.create(**row)


async def seed_account(database, owner: str = "ann") -> Account:
    async with ShopUoW(database) as uow:
        return await uow.accounts.create(owner=owner, balance=Decimal("10"))


# -- update_if --------------------------------------------------------------------------


async def test_update_if_writes_when_the_conditions_hold(database):
    product = await seed(database)
    async with ShopUoW(database) as uow:
        held = await uow.products.get_one(product.id)
        ok, updated = await uow.products.update_if(
            product.id, {"stock__gte": 1, "name": "Widget"}, stock=Product.stock - 1, name="Sold"
        )
        assert ok and updated is held
        assert (held.stock, held.name) == (1, "Sold")
        assert held.updated_at > product.updated_at


async def test_update_if_changes_nothing_when_the_conditions_fail(database):
    product = await seed(database, stock=0)
    async with ShopUoW(database) as uow:
        result = await uow.products.update_if(product.id, {"stock__gte": 1}, stock=5)
        assert result == (False, None)
        assert await uow.products.update_if(999, {}, stock=5) == (False, None)
    async with ShopUoW(database) as uow:
        assert (await uow.products.get_one(product.id)).stock == 0


async def test_update_if_takes_operator_dicts_and_skips_soft_deleted_rows(database):
    async with ShopUoW(database) as uow:
        job = await uow.jobs.create(status="pending")
        ok, claimed = await uow.jobs.update_if(
            job.id, {"status": {"in": ["pending", "retry"]}, "claimed_by__isnull": True},
            status="running", claimed_by=7,
        )  # fmt: skip
        assert ok and (claimed.status, claimed.claimed_by) == ("running", 7)
        await uow.jobs.soft_delete(job.id)
        assert await uow.jobs.update_if(job.id, {}, status="done") == (False, None)


async def test_update_if_on_a_versioned_model_bumps_the_version(database):
    account = await seed_account(database)
    async with ShopUoW(database) as uow:
        ok, updated = await uow.accounts.update_if(
            account.id, {"balance__gte": 5}, balance=Account.balance - 5
        )
        assert ok and updated.balance == Decimal("5") and updated.version == 2


@pytest.mark.parametrize(
    ("conditions", "values", "fragment"),
    [
        ({"nope": 1}, {"stock": 1}, "unknown field"),
        ({"stock__bigger": 1}, {"stock": 1}, "unknown operator"),
        ({"stock__gte": "many"}, {"stock": 1}, "expected an integer"),
        ([("stock", 1)], {"stock": 1}, "mapping"),
        ({}, {}, "at least one value"),
        ({}, {"nope": 1}, "unknown field"),
        ({}, {"stock": "x"}, "expected an integer"),
    ],
)
async def test_update_if_rejects_bad_input_before_any_sql(database, conditions, values, fragment):
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError, match=fragment):
            await uow.products.update_if(1, conditions, **values)
        with pytest.raises(InvalidQueryError, match="primary key"):
            await uow.memberships.update_if((1, 2), {}, group_id=5)
        assert not uow.session.in_transaction()


# -- update_with_lock -------------------------------------------------------------------


async def test_update_with_lock_accepts_an_entity_from_an_earlier_unit_of_work(database):
    account = await seed_account(database)  # read in one "request"...
    async with ShopUoW(database) as uow:  # ...written in the next
        updated = await uow.accounts.update_with_lock(account, balance=Decimal("25"))
        assert updated is not account and updated in uow.session
        assert (updated.balance, updated.version) == (Decimal("25"), 2)
        assert updated.updated_at > account.updated_at
    assert account.version == 1  # the caller's detached copy is left as it was read
    async with ShopUoW(database) as uow:
        fresh = await uow.accounts.get_one(account.id)
        assert (fresh.balance, fresh.version) == (Decimal("25"), 2)


async def test_update_with_lock_refuses_a_stale_version(database):
    account = await seed_account(database)
    async with ShopUoW(database) as uow:
        await uow.accounts.update_with_lock(account, balance=Decimal("1"))
    with pytest.raises(ConcurrentModificationError) as info:
        async with ShopUoW(database) as uow:
            await uow.accounts.update_with_lock(account, balance=Decimal("2"))
    assert info.value.details["expected_version"] == 1
    async with ShopUoW(database) as uow:
        assert (await uow.accounts.get_one(account.id)).balance == Decimal("1")


async def test_update_with_lock_on_a_deleted_row_is_a_concurrent_modification(database):
    account = await seed_account(database)
    async with ShopUoW(database) as uow:
        await uow.accounts.delete(account.id)
    with pytest.raises(ConcurrentModificationError):
        async with ShopUoW(database) as uow:
            await uow.accounts.update_with_lock(account, balance=Decimal("2"))


async def test_update_with_lock_on_the_sessions_own_copy_with_pending_changes(database):
    account = await seed_account(database)
    async with ShopUoW(database) as uow:
        held = await uow.accounts.get_one(account.id)
        held.owner = "bob"  # flushed first, so the version it checks is the current one
        updated = await uow.accounts.update_with_lock(held, balance=Decimal("3"))
        assert updated is held
        assert (held.owner, held.balance, held.version) == ("bob", Decimal("3"), 3)


async def test_update_with_lock_rejects_bad_input(database):
    account = await seed_account(database)
    product = await seed(database)
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError, match="VersionMixin"):
            await uow.products.update_with_lock(product, stock=1)
        with pytest.raises(InvalidQueryError, match="optimistic locking"):
            await uow.accounts.update_with_lock(account, version=9)
        with pytest.raises(InvalidQueryError, match="expected a Account"):
            await uow.accounts.update_with_lock(product, balance=1)
        with pytest.raises(InvalidQueryError, match="unknown field"):
            await uow.accounts.update_with_lock(account, nope=1)
        with pytest.raises(InvalidQueryError, match="no loaded"):
            await uow.accounts.update_with_lock(Account(owner="x"), balance=1)


# -- plain flushes of stale objects -------------------------------------------------------


async def test_a_plain_flush_of_a_stale_versioned_object_fails(database):
    account = await seed_account(database)
    account_id = account.id
    async with ShopUoW(database) as uow:
        await uow.accounts.update(account_id, balance=Decimal("50"))
    with pytest.raises(ConcurrentModificationError):
        async with ShopUoW(database) as uow:
            uow.session.add(account)  # re-attached at version 1; the row is at version 2
            account.balance = Decimal("0")
    async with ShopUoW(database) as uow:
        assert (await uow.accounts.get_one(account_id)).balance == Decimal("50")


async def test_update_if_binds_each_calls_values_into_a_statement_of_the_same_shape(database):
    product = await seed(database, stock=5)
    async with ShopUoW(database) as uow:
        for floor, expected in [(5, True), (6, False), (0, True), (99, False)]:
            ok, _ = await uow.products.update_if(product.id, {"stock__gte": floor}, stock=5)
            assert ok is expected, floor
        ok, updated = await uow.products.update_if(
            product.id, {"stock__lt": 6, "name__ne": "x", "category__isnull": True},
            name="Renamed", stock=1, category=None,
        )  # fmt: skip
        assert ok and (updated.name, updated.stock) == ("Renamed", 1)
        ok, _ = await uow.products.update_if(product.id, {"category__isnull": False}, stock=2)
        assert not ok
        ok, updated = await uow.products.update_if(product.id, {"category": None}, category="c")
        assert ok and updated.category == "c"
    async with ShopUoW(database) as uow:
        assert (await uow.products.get_one(product.id)).stock == 1


async def test_update_if_with_a_value_no_row_can_hold_matches_nothing(database):
    product = await seed(database)
    async with ShopUoW(database) as uow:
        assert await uow.products.update_if(product.id, {"stock__gte": 2**70}, stock=1) == (
            False,
            None,
        )
        ok, _ = await uow.products.update_if(product.id, {"stock__lt": 2**70}, stock=1)
        assert ok
