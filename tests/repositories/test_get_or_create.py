from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from orm_core import DuplicateError, InvalidQueryError
from tests.support import ShopUoW, product_row, read_every_column, recorded

RACERS = 20


async def test_get_or_create_creates_then_gets(database):
    async with ShopUoW(database) as uow:
        made, created = await uow.products.get_or_create(
            {"name": "Widget", "price": Decimal("2.50")}, sku="W-1"
        )
        again, created_again = await uow.products.get_or_create({"name": "Other"}, sku="W-1")
    assert created and not created_again and again is made
    assert read_every_column(made)["name"] == "Widget"
    async with ShopUoW(database) as uow:
        later, created_later = await uow.products.get_or_create(sku="W-1")
    assert not created_later and later.id == made.id and later.price == Decimal("2.50")


async def test_get_or_create_ignores_soft_deleted_rows(database):
    async with ShopUoW(database) as uow:
        note, _ = await uow.notes.get_or_create(title="n")
        await uow.notes.soft_delete(note.id)
        again, created = await uow.notes.get_or_create(title="n")
    assert created and again.id != note.id


@pytest.mark.parametrize(
    ("defaults", "lookups"),
    [
        (None, {}),
        (None, {"sku__eq": "x"}),
        (None, {"price__gt": Decimal(1)}),
        (None, {"sku": {"eq": "x"}}),
        (None, {"colour": "red"}),
        (None, {"sku": 5}),
        ({"stock": "many"}, {"sku": "x"}),
        ({"nope": 1}, {"sku": "x"}),
        (["name"], {"sku": "x"}),
    ],
)
async def test_get_or_create_rejects_bad_lookups_before_sql(database, defaults, lookups):
    async with ShopUoW(database) as uow:
        with recorded(database) as log:
            with pytest.raises(InvalidQueryError):
                await uow.products.get_or_create(defaults, **lookups)
            with pytest.raises(InvalidQueryError):
                await uow.products.update_or_create(defaults, **lookups)
    assert log.statements == []


async def test_get_or_create_raises_duplicate_on_another_unique_key(database):
    async with ShopUoW(database) as uow:
        await uow.accounts.create(owner="ann")
    with pytest.raises(DuplicateError):
        async with ShopUoW(database) as uow:
            # no row has balance 7, but the insert clashes on the unique owner
            await uow.accounts.get_or_create({"owner": "ann"}, balance=Decimal("7"))


async def test_update_or_create_creates_then_updates(database):
    async with ShopUoW(database) as uow:
        made, created = await uow.products.update_or_create(
            {"name": "First", "price": Decimal("1")}, sku="U-1"
        )
    async with ShopUoW(database) as uow:
        updated, created_again = await uow.products.update_or_create(
            {"name": "Second", "stock": 3}, sku="U-1"
        )
    assert created and not created_again and updated.id == made.id
    values = read_every_column(updated)
    assert (values["name"], values["stock"]) == ("Second", 3)
    assert updated.updated_at > made.updated_at
    async with ShopUoW(database) as uow:
        assert (await uow.products.get_one(made.id)).name == "Second"


async def test_update_or_create_bumps_the_version_of_an_existing_row(database):
    async with ShopUoW(database) as uow:
        a, _ = await uow.accounts.update_or_create({"balance": Decimal("1")}, owner="ann")
    async with ShopUoW(database) as uow:
        b, created = await uow.accounts.update_or_create({"balance": Decimal("2")}, owner="ann")
    assert (a.version, b.version, created) == (1, 2, False)


@pytest.mark.postgres
async def test_get_or_create_race_creates_exactly_one_row(database):
    start = asyncio.Event()

    async def racer(n: int):
        await start.wait()
        async with ShopUoW(database) as uow:
            entity, created = await uow.products.get_or_create(
                {"name": f"racer {n}", "price": Decimal("1")}, sku="RACE"
            )
            return entity.id, created

    tasks = [asyncio.create_task(racer(n)) for n in range(RACERS)]
    await asyncio.sleep(0)
    start.set()
    results = await asyncio.gather(*tasks)
    assert sum(created for _, created in results) == 1
    assert len({ident for ident, _ in results}) == 1
    async with ShopUoW(database) as uow:
        assert await uow.products.count(sku="RACE") == 1


@pytest.mark.postgres
async def test_update_or_create_race_creates_exactly_one_row(database):
    start = asyncio.Event()

    async def racer(n: int):
        await start.wait()
        async with ShopUoW(database) as uow:
            entity, created = await uow.products.update_or_create(
                {"name": f"racer {n}", "price": Decimal("1"), "stock": n}, sku="RACE"
            )
            return entity.id, entity.stock, created

    tasks = [asyncio.create_task(racer(n)) for n in range(RACERS)]
    await asyncio.sleep(0)
    start.set()
    results = await asyncio.gather(*tasks)
    assert sum(created for *_, created in results) == 1
    assert len({ident for ident, *_ in results}) == 1
    async with ShopUoW(database) as uow:
        [row] = await uow.products.list(sku="RACE")
    assert row.stock in {stock for _, stock, _ in results}
    assert row.name == f"racer {row.stock}"


async def test_get_or_create_in_a_unit_of_work_that_already_wrote(database):
    async with ShopUoW(database) as uow:
        first = await uow.products.create(**product_row(1))
        with pytest.raises(DuplicateError):
            await uow.accounts.get_or_create({"owner": "x"}, balance=Decimal("1"))
            await uow.accounts.get_or_create({"owner": "x"}, balance=Decimal("2"))
        assert await uow.products.count() == 1
    read_every_column(first)
    async with ShopUoW(database) as uow:
        assert await uow.products.count() == 1 and await uow.accounts.count() == 1
