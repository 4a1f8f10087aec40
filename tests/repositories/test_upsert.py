"""upsert and upsert_many on SQLite and PostgreSQL (and MariaDB when it is reachable)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from orm_core import Database, DuplicateError, InvalidQueryError, utcnow
from orm_repositories import AsyncRepository
from tests.models import Account, Color, Note, Product
from tests.support import ShopUoW, private_mariadb, recorded


async def seed_product(database: Database, **values) -> Product:
    row = {"sku": "A-1", "name": "Widget", "price": Decimal("9.99"), "stock": 5, **values}
    async with ShopUoW(database) as uow:
        return await uow.products.create(**row)


# -- upsert -----------------------------------------------------------------------------


async def test_upsert_inserts_a_row_when_the_key_is_new(database):
    async with ShopUoW(database) as uow:
        product = await uow.products.upsert(
            conflict_fields=["sku"], sku="N-1", name="New", price=Decimal("1.50"), stock=3
        )
        assert product.id is not None and product.stock == 3 and product.view_count == 0
        assert product.created_at is not None and product.updated_at is not None
    async with ShopUoW(database) as uow:
        assert await uow.products.count() == 1
        assert (await uow.products.get_one(product.id)).name == "New"


async def test_upsert_updates_the_existing_row_and_refreshes_updated_at(database):
    original = await seed_product(database)
    async with ShopUoW(database) as uow:
        product = await uow.products.upsert(
            conflict_fields="sku", sku="A-1", name="Renamed", price=Decimal("2.00"), stock=9
        )
    assert product.id == original.id
    assert (product.name, product.price, product.stock) == ("Renamed", Decimal("2.00"), 9)
    assert product.created_at == original.created_at
    assert product.updated_at > original.updated_at
    async with ShopUoW(database) as uow:
        assert await uow.products.count() == 1
        stored = await uow.products.get_one(original.id)
        assert (stored.name, stored.stock) == ("Renamed", 9)


async def test_update_fields_limits_what_the_update_path_changes(database):
    original = await seed_product(database)
    async with ShopUoW(database) as uow:
        product = await uow.products.upsert(
            conflict_fields=["sku"],
            update_fields=["stock"],
            sku="A-1",
            name="Ignored on update",
            price=Decimal("100"),
            stock=42,
        )
    assert (product.name, product.price, product.stock) == ("Widget", Decimal("9.99"), 42)
    assert product.updated_at > original.updated_at
    async with ShopUoW(database) as uow:
        inserted = await uow.products.upsert(
            conflict_fields=["sku"], update_fields=["stock"], sku="B-2", name="Kept on insert",
            price=Decimal("3"), stock=1,
        )  # fmt: skip
    assert inserted.name == "Kept on insert"


async def test_upsert_with_no_fields_to_update_returns_the_stored_row_unchanged(database):
    original = await seed_product(database)
    async with ShopUoW(database) as uow:
        product = await uow.products.upsert(
            conflict_fields=["sku"], update_fields=[], sku="A-1", name="X", price=Decimal("1")
        )
    assert product.id == original.id and product.name == "Widget"
    assert product.updated_at == original.updated_at


async def test_upsert_refreshes_the_copy_the_session_already_holds(database):
    original = await seed_product(database)
    async with ShopUoW(database) as uow:
        held = await uow.products.get_one(original.id)
        assert held.stock == 5
        returned = await uow.products.upsert(
            conflict_fields=["sku"], sku="A-1", name="Widget", price=Decimal("9.99"), stock=77
        )
        assert returned is held
        assert held.stock == 77


async def test_upsert_on_a_versioned_model_bumps_the_version_on_update(database):
    async with ShopUoW(database) as uow:
        first = await uow.accounts.upsert(conflict_fields=["owner"], owner="ann", balance=10)
        assert first.version == 1
    async with ShopUoW(database) as uow:
        second = await uow.accounts.upsert(conflict_fields=["owner"], owner="ann", balance=20)
    assert second.id == first.id and second.version == 2 and second.balance == Decimal("20")
    with pytest.raises(InvalidQueryError):
        async with ShopUoW(database) as uow:
            await uow.accounts.upsert(conflict_fields=["owner"], owner="ann", version=7)


async def test_upsert_on_a_composite_primary_key(database):
    async with ShopUoW(database) as uow:
        await uow.memberships.upsert(
            conflict_fields=["group_id", "user_id"], group_id=1, user_id=2, role="member"
        )
        updated = await uow.memberships.upsert(
            conflict_fields=["group_id", "user_id"], group_id=1, user_id=2, role="owner"
        )
        assert updated.role == "owner"
        assert await uow.memberships.count() == 1


async def test_upsert_is_one_statement(database):
    await seed_product(database)
    with recorded(database) as log:
        async with ShopUoW(database) as uow:
            await uow.products.upsert(
                conflict_fields=["sku"], sku="A-1", name="Z", price=Decimal("1")
            )
    upserts = log.starting_with("INSERT")
    assert len(upserts) == 1
    assert "ON CONFLICT (sku) DO UPDATE" in upserts[0] and "RETURNING" in upserts[0]
    assert not log.starting_with("SELECT")


# -- unhappy paths ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"conflict_fields": ["skew"]}, "unknown field"),
        ({"conflict_fields": ["name"]}, "not a primary key or unique constraint"),
        ({"conflict_fields": []}, "at least one field"),
        ({"conflict_fields": [1]}, "field names"),
        ({"conflict_fields": ["sku"], "update_fields": ["nope"]}, "unknown field"),
        ({"conflict_fields": ["sku"], "update_fields": ["category"]}, "among the given values"),
        ({"conflict_fields": ["sku"], "update_fields": ["id"]}, "primary key"),
    ],
)
async def test_upsert_rejects_bad_field_lists_before_any_sql(database, kwargs, fragment):
    values = {"sku": "A-1", "name": "W", "price": Decimal("1")}
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError, match=fragment):
            await uow.products.upsert(**kwargs, **values)
        with pytest.raises(InvalidQueryError, match=fragment):
            await uow.products.upsert_many([values], **kwargs)
        assert not uow.session.in_transaction()


async def test_upsert_rejects_a_missing_conflict_value_and_bad_values(database):
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError, match="conflict fields need values"):
            await uow.products.upsert(conflict_fields=["sku"], name="W", price=Decimal("1"))
        with pytest.raises(InvalidQueryError, match="price"):
            await uow.products.upsert(conflict_fields=["sku"], sku="A", name="W", price="cheap")
        with pytest.raises(InvalidQueryError, match="unknown field"):
            await uow.products.upsert(conflict_fields=["sku"], sku="A", colour="red")
        with pytest.raises(InvalidQueryError, match="needs its conflict fields"):
            await uow.products.upsert_many(
                [{"sku": "A", "name": "W", "price": 1}, {"name": "W", "price": 1}],
                conflict_fields=["sku"],
            )
        with pytest.raises(InvalidQueryError):
            await uow.products.upsert_many({"sku": "A"}, conflict_fields=["sku"])
        with pytest.raises(InvalidQueryError):
            await uow.products.upsert_many(["sku"], conflict_fields=["sku"])
        assert not uow.session.in_transaction()


async def test_upsert_clashing_on_another_unique_key_is_a_duplicate_error(database):
    first = await seed_product(database)
    await seed_product(database, sku="B-2")
    with pytest.raises(DuplicateError):
        async with ShopUoW(database) as uow:
            await uow.products.upsert(
                conflict_fields=["id"], id=first.id, sku="B-2", name="W", price=Decimal("1")
            )
    with pytest.raises(DuplicateError):
        async with ShopUoW(database) as uow:
            await uow.products.upsert_many(
                [{"id": first.id, "sku": "B-2", "name": "W", "price": Decimal("1")}],
                conflict_fields=["id"],
            )


# -- upsert_many ------------------------------------------------------------------------


async def test_upsert_many_of_no_rows_returns_zero(database):
    async with ShopUoW(database) as uow:
        assert await uow.products.upsert_many([], conflict_fields=["sku"]) == 0
        assert await uow.products.upsert_many(iter(()), conflict_fields=["sku"]) == 0


async def test_upsert_many_of_40000_rows_half_existing_with_repeated_keys(database):
    async with ShopUoW(database) as uow:
        existing = [
            {"sku": f"S{i:05d}", "name": "old", "price": Decimal("1"), "stock": 1}
            for i in range(20_000)
        ]
        assert await uow.products.bulk_create(existing) == 20_000
    # 19,000 existing keys, 19,000 new keys, and 1,000 of those keys (half existing) sent twice
    # more; the first repeats hold a stock the check constraint rejects, so they must never be sent.
    rows = [
        {"sku": f"S{i:05d}", "name": "new", "price": Decimal("2"), "stock": i}
        for i in range(1_000, 39_000)
    ]
    rows += [
        {"sku": f"S{i:05d}", "name": "last", "price": Decimal("3"), "stock": -1 if i else 0}
        for i in (*range(5_000, 5_500), *range(30_000, 30_500))
    ]
    rows += [
        {"sku": f"S{i:05d}", "name": "last", "price": Decimal("3"), "stock": 7}
        for i in (*range(5_000, 5_500), *range(30_000, 30_500))
    ]
    assert len(rows) == 40_000
    started = utcnow()
    async with ShopUoW(database) as uow:
        assert await uow.products.upsert_many(rows, conflict_fields=["sku"]) == 38_000
    async with ShopUoW(database) as uow:
        session = uow.session
        assert await uow.products.count() == 39_000
        by_name = dict(
            (await session.execute(select(Product.name, func.count()).group_by(Product.name))).all()
        )
        assert by_name == {"old": 1_000, "new": 37_000, "last": 1_000}
        assert await uow.products.count(name="last", stock=7) == 1_000
        untouched = await uow.products.first(sku="S00010")
        assert (untouched.name, untouched.stock) == ("old", 1)
        updated = await uow.products.first(sku="S01500")
        assert (updated.name, updated.stock, updated.price) == ("new", 1_500, Decimal("2"))
        updated_existing = await uow.products.count(
            Product.created_at < started, Product.updated_at > started, name="new"
        )
        assert updated_existing == 18_500  # existing keys 1,000..19,999 minus the 500 repeated


async def test_upsert_many_updates_only_update_fields_and_rows_may_differ_in_shape(database):
    await seed_product(database)
    await seed_product(database, sku="B-2", category="toys")
    rows = [
        {"sku": "A-1", "name": "A", "price": Decimal("5"), "stock": 50},
        {"sku": "B-2", "name": "B", "price": Decimal("6"), "stock": 60, "category": "games"},
        {"sku": "C-3", "name": "C", "price": Decimal("7")},
    ]
    async with ShopUoW(database) as uow:
        count = await uow.products.upsert_many(
            rows, conflict_fields=["sku"], update_fields=["stock", "category"]
        )
        assert count == 3
    async with ShopUoW(database) as uow:
        a, b, c = await uow.products.list(order_by="sku")
    assert (a.name, a.stock, a.category) == ("Widget", 50, None)
    assert (b.name, b.stock, b.category) == ("Widget", 60, "games")
    assert (c.name, c.stock) == ("C", 0)


async def test_upsert_many_refreshes_copies_the_session_holds(database):
    await seed_product(database)
    async with ShopUoW(database) as uow:
        held = await uow.products.first(sku="A-1")
        await uow.products.upsert_many(
            [{"sku": "A-1", "name": "Fresh", "price": Decimal("1"), "stock": 11}],
            conflict_fields=["sku"],
        )
        assert (held.name, held.stock) == ("Fresh", 11)


async def test_upsert_many_failure_keeps_none_of_the_call_but_the_unit_goes_on(database):
    first = await seed_product(database)
    await seed_product(database, sku="B-2")
    async with ShopUoW(database) as uow:
        rows = [
            {"id": 100, "sku": "Z-9", "name": "ok", "price": Decimal("1")},
            {"id": first.id, "sku": "B-2", "name": "clash", "price": Decimal("1")},
        ]
        with pytest.raises(DuplicateError):
            await uow.products.upsert_many(rows, conflict_fields=["id"])
        assert await uow.products.get(100) is None
        await uow.products.create(sku="C-3", name="after", price=Decimal("1"))
    async with ShopUoW(database) as uow:
        assert await uow.products.count() == 3


# -- PostgreSQL specifics -----------------------------------------------------------------


@pytest.mark.postgres
async def test_upsert_many_sends_one_statement_of_column_arrays_per_batch(database):
    rows = [{"sku": f"K{i}", "name": "n", "price": Decimal("1")} for i in range(30_000)]
    with recorded(database) as log:
        async with ShopUoW(database) as uow:
            assert await uow.products.upsert_many(rows, conflict_fields=["sku"]) == 30_000
    calls = [entry for entry in log.statements if entry[0].startswith("INSERT")]
    # 20,000 rows a statement, whatever the bind-parameter limit: one array per column
    assert len(calls) == 2
    for statement, count, parameter_sets in calls:
        assert "unnest(" in statement and "ON CONFLICT (sku) DO UPDATE" in statement
        assert parameter_sets == 1 and count == 7
    async with ShopUoW(database) as uow:
        assert await uow.products.count() == 30_000


# -- MariaDB ------------------------------------------------------------------------------


async def test_upsert_on_mariadb_uses_on_duplicate_key_update():
    async with private_mariadb("orm_upsert", Product.__table__, Account.__table__) as db:
        with recorded(db) as log:
            async with ShopUoW(db) as uow:
                created = await uow.products.upsert(
                    conflict_fields=["sku"], sku="M-1", name="Maria", price=Decimal("1.25"), stock=1
                )
                held_id = created.id
            async with ShopUoW(db) as uow:
                held = await uow.products.get_one(held_id)
                updated = await uow.products.upsert(
                    conflict_fields=["sku"], update_fields=["stock"], sku="M-1", name="no",
                    price=Decimal("1"), stock=8,
                )  # fmt: skip
                assert updated is held and (held.stock, held.name) == (8, "Maria")
                assert held.updated_at > created.updated_at  # DATETIME(6): microseconds kept
                rows = [
                    {"sku": f"M-{i}", "name": "bulk", "price": Decimal("2")} for i in range(1, 501)
                ]
                rows.append({"sku": "M-1", "name": "last", "price": Decimal("3")})
                assert await uow.products.upsert_many(rows, conflict_fields=["sku"]) == 500
                account = await uow.accounts.upsert(conflict_fields=["owner"], owner="o", balance=1)
                account = await uow.accounts.upsert(conflict_fields=["owner"], owner="o", balance=2)
                assert (account.version, account.balance) == (2, Decimal("2"))
            async with ShopUoW(db) as uow:
                assert await uow.products.count() == 500
                assert (await uow.products.first(sku="M-1")).name == "last"
        upserts = log.starting_with("INSERT")
        assert upserts and all("ON DUPLICATE KEY UPDATE" in s for s in upserts)


async def test_upsert_many_fills_python_defaults_per_row_and_timestamps_per_statement(database):
    async with ShopUoW(database) as uow:
        notes = AsyncRepository[Note](uow.session)
        rows = [{"id": n, "title": f"t{n}"} for n in range(1, 51)]
        assert await notes.upsert_many(rows, conflict_fields=["id"]) == 50
        stored = await notes.list()
    assert len({n.token for n in stored}) == 50  # uuid4 default: one per row
    assert {n.color for n in stored} == {Color.RED}
    assert len({n.created_at for n in stored}) == 1  # one statement, one moment
