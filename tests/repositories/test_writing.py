from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import true

from orm_core import (
    ConstraintError,
    DuplicateError,
    InvalidQueryError,
    NotFoundError,
)
from tests.models import Account, Membership, Product, Ticket
from tests.support import ShopUoW, product_row, read_every_column, recorded, seed_products


def assert_utc(value):
    assert value.tzinfo is not None and value.utcoffset() == timedelta(0)


async def reread(database, repo_name: str, ident):
    async with ShopUoW(database) as uow:
        return await getattr(uow, repo_name).get_one(ident)


# -- add / add_many / create ---------------------------------------------------------


async def test_create_returns_a_fully_loaded_entity_after_commit(database):
    async with ShopUoW(database) as uow:
        p = await uow.products.create(**product_row(1))
        t = await uow.tickets.create(title="server defaults")
    values = read_every_column(p)
    assert values["stock"] == 0 and values["id"] == 1
    ticket = read_every_column(t)
    assert (ticket["status"], ticket["priority"], ticket["code"]) == ("open", 3, "tk")
    assert_utc(p.created_at) and assert_utc(p.updated_at)


async def test_add_and_add_many_return_loaded_entities(database):
    async with ShopUoW(database) as uow:
        single = await uow.tickets.add(Ticket(title="one"))
        many = await uow.tickets.add_many([Ticket(title="two"), Ticket(title="three")])
        accounts = await uow.accounts.add_many([Account(owner="a"), Account(owner="b")])
    for entity in [single, *many, *accounts]:
        read_every_column(entity)
    assert [t.status for t in many] == ["open", "open"]
    assert [a.version for a in accounts] == [1, 1]


async def test_add_rejects_an_entity_of_another_model(database):
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError):
            await uow.products.add(Account(owner="x"))
        with pytest.raises(InvalidQueryError):
            await uow.products.add_many([Product(**product_row(1)), Account(owner="x")])
        assert await uow.products.count() == 0


@pytest.mark.parametrize(
    "values",
    [
        {**product_row(1), "colour": "red"},
        {**product_row(1), "price": "cheap"},
        {**product_row(1), "stock": "3"},
        {**product_row(1), "stock": 2**31},
        {**product_row(1), "sku": "x" * 51},
        {**product_row(1), "price": Decimal("1e10")},
    ],
)
async def test_create_rejects_bad_values_before_sql(database, values):
    async with ShopUoW(database) as uow:
        with recorded(database) as log, pytest.raises(InvalidQueryError):
            await uow.products.create(**values)
    assert log.statements == []


async def test_duplicates_raise_duplicate_error_naming_the_field(database):
    await seed_products(database, 1)
    with pytest.raises(DuplicateError) as info:
        async with ShopUoW(database) as uow:
            await uow.products.create(**product_row(1))
    assert info.value.details["fields"] == ["sku"]
    if database.dialect == "postgresql":
        assert info.value.details["constraint"] == "uq_products_sku"
    async with ShopUoW(database) as uow:
        await uow.memberships.create(group_id=1, user_id=1)
    with pytest.raises(DuplicateError) as composite:
        async with ShopUoW(database) as uow:
            await uow.memberships.create(group_id=1, user_id=1)
    assert composite.value.details["fields"] == ["group_id", "user_id"]


async def test_a_missing_foreign_key_is_a_constraint_error(database):
    with pytest.raises(ConstraintError) as info:
        async with ShopUoW(database) as uow:
            await uow.orders.create(product_id=404)
    assert not isinstance(info.value, DuplicateError)


async def test_a_failed_check_constraint_is_a_constraint_error(database):
    with pytest.raises(ConstraintError):
        async with ShopUoW(database) as uow:
            await uow.products.create(**product_row(1, stock=-1))


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("0.10", "0.10"),
        ("9.99", "9.99"),
        ("12345678.91", "12345678.91"),
        ("9999999999.99", "9999999999.99"),
        ("-0.01", "-0.01"),
        ("9.995", "10.00"),
        ("1.005", "1.01"),
        ("2.675", "2.68"),
        ("0.125", "0.13"),
    ],
)
async def test_decimals_round_trip_exactly(database, given, stored):
    async with ShopUoW(database) as uow:
        created = await uow.products.create(**product_row(1, price=Decimal(given)))
        added = await uow.products.add(Product(**product_row(2, price=Decimal(given))))
    assert created.price == added.price == Decimal(stored)
    for ident in (created.id, added.id):
        price = (await reread(database, "products", ident)).price
        assert isinstance(price, Decimal) and str(price) == stored


# -- update / update_fields -------------------------------------------------------------


async def test_update_sets_fields_and_refreshes_updated_at(database):
    [p] = await seed_products(database, 1)
    async with ShopUoW(database) as uow:
        updated = await uow.products.update(p.id, name="Renamed", stock=4)
    assert (updated.name, updated.stock) == ("Renamed", 4)
    assert updated.updated_at > p.updated_at and updated.created_at == p.created_at
    stored = await reread(database, "products", p.id)
    assert stored.updated_at == updated.updated_at and stored.name == "Renamed"
    assert_utc(stored.updated_at) and assert_utc(stored.created_at)


async def test_timestamps_keep_microseconds_on_both_databases(database):
    products = await seed_products(database, 5)
    async with ShopUoW(database) as uow:
        stored = await uow.products.get_many([p.id for p in products], preserve_order=True)
        assert [s.created_at for s in stored] == [p.created_at for p in products]
    assert any(p.created_at.microsecond for p in products)


async def test_every_update_gets_a_newer_updated_at(database):
    [p] = await seed_products(database, 1)
    stamps = [p.updated_at]
    for n in range(3):
        async with ShopUoW(database) as uow:
            stamps.append((await uow.products.update(p.id, stock=n + 1)).updated_at)
    assert stamps == sorted(stamps) and len(set(stamps)) == 4


async def test_update_of_a_missing_row_raises_not_found(database):
    async with ShopUoW(database) as uow:
        with pytest.raises(NotFoundError) as info:
            await uow.products.update(7, name="x")
    assert info.value.details == {"model": "Product", "filters": {"id": 7}}


@pytest.mark.parametrize("values", [{"id": 5}, {"nope": 1}, {"stock": "x"}, {"price": None}])
async def test_update_rejects_key_changes_and_bad_values_before_sql(database, values):
    [p] = await seed_products(database, 1)
    async with ShopUoW(database) as uow:
        with recorded(database) as log, pytest.raises(InvalidQueryError):
            await uow.products.update(p.id, **values)
        with pytest.raises(InvalidQueryError):
            await uow.products.update_fields(p, **values)
    assert log.statements == []


async def test_update_of_a_composite_key_row(database):
    async with ShopUoW(database) as uow:
        await uow.memberships.create(group_id=1, user_id=2)
    async with ShopUoW(database) as uow:
        m = await uow.memberships.update((1, 2), role="owner")
        with pytest.raises(InvalidQueryError):
            await uow.memberships.update((1, 2), user_id=3)
    assert m.role == "owner"


async def test_update_bumps_the_version(database):
    async with ShopUoW(database) as uow:
        a = await uow.accounts.create(owner="ann")
    async with ShopUoW(database) as uow:
        b = await uow.accounts.update(a.id, balance=Decimal("5.00"))
    async with ShopUoW(database) as uow:
        c = await uow.accounts.update_fields(b, balance=Decimal("6.00"))
    assert (a.version, b.version, c.version) == (1, 2, 3)
    read_every_column(c)
    assert (await reread(database, "accounts", a.id)).version == 3


async def test_update_fields_takes_an_entity_from_an_earlier_unit_of_work(database):
    [p] = await seed_products(database, 1)
    async with ShopUoW(database) as uow:
        updated = await uow.products.update_fields(p, name="Later", category="c")
    assert read_every_column(updated)["name"] == "Later"
    assert updated.updated_at > p.updated_at
    stored = await reread(database, "products", p.id)
    assert (stored.name, stored.category) == ("Later", "c")


async def test_update_fields_on_an_entity_of_this_session(database):
    async with ShopUoW(database) as uow:
        p = await uow.products.create(**product_row(1))
        same = await uow.products.update_fields(p, stock=9)
        assert same is p
    assert read_every_column(p)["stock"] == 9


async def test_update_fields_of_a_deleted_row_raises_not_found(database):
    [p] = await seed_products(database, 1)
    async with ShopUoW(database) as uow:
        await uow.products.delete(p.id)
    async with ShopUoW(database) as uow:
        with pytest.raises(NotFoundError):
            await uow.products.update_fields(p, name="ghost")
        with pytest.raises(InvalidQueryError):
            await uow.products.update_fields(Account(owner="x"), owner="y")
        with pytest.raises(InvalidQueryError):
            await uow.products.update_fields(p, id=3)


# -- update_where ---------------------------------------------------------------------


async def test_update_where_updates_matching_rows_and_their_updated_at(database):
    products = await seed_products(database, 4)
    async with ShopUoW(database) as uow:
        held = await uow.products.get(products[0].id)
        count = await uow.products.update_where(
            {"stock": Product.stock + 5, "category": "sale"}, Product.price < Decimal("0.03")
        )
    assert count == 2
    assert read_every_column(held)["stock"] == 5 and held.category == "sale"
    assert held.updated_at > products[0].updated_at
    async with ShopUoW(database) as uow:
        rows = {p.id: p for p in await uow.products.list()}
    second = rows[products[1].id]
    assert second.stock == 5 and second.updated_at > products[1].updated_at
    assert rows[products[2].id].updated_at == products[2].updated_at
    assert rows[products[2].id].category is None


async def test_update_where_bumps_versions(database):
    async with ShopUoW(database) as uow:
        a = await uow.accounts.create(owner="ann")
    async with ShopUoW(database) as uow:
        assert await uow.accounts.update_where({"balance": Decimal("3")}, owner="ann") == 1
    stored = await reread(database, "accounts", a.id)
    assert stored.version == 2 and stored.balance == Decimal("3.00")


@pytest.mark.parametrize(
    ("values", "where", "lookups"),
    [
        ({"stock": 1}, (), {}),
        ({}, (true(),), {}),
        ({"id": 3}, (true(),), {}),
        ({"nope": 1}, (true(),), {}),
        ({"stock": "1"}, (true(),), {}),
        ({"stock": 1}, (), {"nope": 1}),
    ],
)
async def test_update_where_rejects_bad_calls_before_sql(database, values, where, lookups):
    async with ShopUoW(database) as uow:
        with recorded(database) as log, pytest.raises(InvalidQueryError):
            await uow.products.update_where(values, *where, **lookups)
    assert log.statements == []


async def test_update_where_with_true_updates_every_row(database):
    await seed_products(database, 3)
    async with ShopUoW(database) as uow:
        assert await uow.products.update_where({"stock": 2}, true()) == 3
        assert await uow.products.count(stock=2) == 3


# -- delete ---------------------------------------------------------------------------


async def test_delete_removes_the_row_and_reports_whether_it_existed(database):
    products = await seed_products(database, 2)
    async with ShopUoW(database) as uow:
        assert await uow.products.delete(products[0].id) is True
        assert await uow.products.delete(products[0].id) is False
        assert await uow.products.delete(999) is False
    async with ShopUoW(database) as uow:
        assert await uow.products.exists_many([p.id for p in products]) == {
            products[0].id: False, products[1].id: True
        }  # fmt: skip


async def test_delete_removes_soft_deleted_and_versioned_rows(database):
    async with ShopUoW(database) as uow:
        n = await uow.notes.create(title="x")
        a = await uow.accounts.create(owner="ann")
        await uow.notes.soft_delete(n.id)
    async with ShopUoW(database) as uow:
        assert await uow.notes.delete(n.id) is True
        assert await uow.accounts.delete(a.id) is True
        assert await uow.memberships.delete((1, 1)) is False
    async with ShopUoW(database) as uow:
        assert await uow.notes.with_deleted().count() == 0
        assert await uow.accounts.count() == 0


async def test_delete_of_a_referenced_row_is_a_constraint_error(database):
    [p] = await seed_products(database, 1)
    async with ShopUoW(database) as uow:
        await uow.orders.create(product_id=p.id)
    with pytest.raises(ConstraintError):
        async with ShopUoW(database) as uow:
            await uow.products.delete(p.id)


async def test_bulk_delete_deletes_by_ids_and_counts(database):
    products = await seed_products(database, 5)
    async with ShopUoW(database) as uow:
        held = await uow.products.get(products[0].id)
        ids = [products[0].id, products[1].id, 404, products[0].id]
        assert await uow.products.bulk_delete(ids) == 2
        assert await uow.products.get(products[0].id) is None
        assert await uow.products.bulk_delete([]) == 0
        with pytest.raises(InvalidQueryError):
            await uow.products.bulk_delete(["x"])
    assert held is not None and held.sku == products[0].sku
    async with ShopUoW(database) as uow:
        assert await uow.products.count() == 3


async def test_bulk_delete_of_many_ids_stays_under_the_bind_limit(database):
    async with ShopUoW(database) as uow:
        await uow.products.bulk_create(product_row(n) for n in range(1, 301))
    ids = list(range(1, 40_001))
    async with ShopUoW(database) as uow:
        with recorded(database) as log:
            assert await uow.products.bulk_delete(ids) == 300
    assert log.max_params <= 32_766


async def test_delete_where_deletes_matching_rows(database):
    await seed_products(database, 4)
    async with ShopUoW(database) as uow:
        assert await uow.products.delete_where(price__gte=Decimal("0.03")) == 2
        assert await uow.products.delete_where(Product.sku == "nope") == 0
        assert await uow.products.count() == 2
        assert await uow.products.delete_where(true()) == 2
        assert await uow.memberships.delete_where(Membership.role == "x") == 0


async def test_delete_where_without_a_condition_is_rejected_before_sql(database):
    async with ShopUoW(database) as uow:
        with recorded(database) as log, pytest.raises(InvalidQueryError):
            await uow.products.delete_where()
    assert log.statements == []


# -- soft delete timestamps --------------------------------------------------------------


async def test_soft_delete_and_restore_refresh_updated_at(database):
    async with ShopUoW(database) as uow:
        n = await uow.notes.create(title="x")
    async with ShopUoW(database) as uow:
        held = await uow.notes.get(n.id)
        assert await uow.notes.soft_delete(n.id)
    deleted = read_every_column(held)
    assert deleted["deleted_at"] is not None and deleted["updated_at"] > n.updated_at
    async with ShopUoW(database) as uow:
        assert await uow.notes.restore(n.id)
    restored = await reread(database, "notes", n.id)
    assert restored.deleted_at is None and restored.updated_at > held.updated_at
    assert_utc(restored.updated_at)


# -- nothing expired after commit ------------------------------------------------------


async def test_entities_returned_by_every_write_method_read_fine_after_commit(database):
    async with ShopUoW(database) as uow:
        seeded = await uow.tickets.add_many([Ticket(title=f"t{n}") for n in range(6)])
    async with ShopUoW(database) as uow:
        tickets = uow.tickets
        returned = [
            await tickets.add(Ticket(title="added")),
            *(await tickets.add_many([Ticket(title="m1"), Ticket(title="m2")])),
            await tickets.create(title="created", amount=Decimal("1.50")),
            await tickets.update(seeded[0].id, title="updated"),
            await tickets.update_fields(seeded[1], title="fields"),
            (await tickets.get_or_create(title="goc"))[0],
            (await tickets.get_or_create(title="t2"))[0],
            (await tickets.update_or_create({"priority": 9}, title="t3"))[0],
            (await tickets.update_or_create({"priority": 8}, title="uoc"))[0],
        ]
        held = await tickets.get_many([seeded[4].id, seeded[5].id])
        await tickets.update_where({"priority": Ticket.priority + 1}, title="t4")
        await tickets.bulk_update([{"id": seeded[5].id, "title": "bulk"}])
        await tickets.bulk_create([{"title": "bc"}])
    for entity in [*returned, *held]:
        values = read_every_column(entity)
        assert values["status"] == "open" and values["code"] == "tk"
    assert returned[-2].priority == 9 and held[0].priority == 4 and held[1].title == "bulk"


async def test_entities_held_through_bulk_and_criteria_writes_read_fine_after_commit(database):
    async with ShopUoW(database) as uow:
        accounts = await uow.accounts.add_many([Account(owner=f"o{n}") for n in range(3)])
        notes = [await uow.notes.create(title=f"n{n}") for n in range(2)]
        tickets = await uow.tickets.add_many([Ticket(title=f"t{n}") for n in range(2)])
    async with ShopUoW(database) as uow:
        held = [
            *(await uow.accounts.get_many([a.id for a in accounts])),
            *(await uow.notes.get_many([n.id for n in notes])),
            *(await uow.tickets.get_many([t.id for t in tickets])),
        ]
        await uow.accounts.update_where({"balance": Account.balance + 1}, owner="o0")
        await uow.accounts.bulk_update([{"id": accounts[1].id, "owner": "renamed"}])
        await uow.accounts.delete_where(owner="o2")
        await uow.notes.soft_delete(notes[0].id)
        await uow.notes.bulk_delete([notes[1].id])
        await uow.tickets.delete(tickets[0].id)
    values = [read_every_column(entity) for entity in held]
    assert [v["version"] for v in values[:3]] == [2, 2, 1]
    assert values[0]["balance"] == Decimal("1.00") and values[1]["owner"] == "renamed"
    assert values[3]["deleted_at"] is not None and values[3]["updated_at"] > notes[0].updated_at
