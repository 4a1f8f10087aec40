from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select

from orm_core import ConstraintError, DuplicateError, InvalidQueryError
from orm_core.fields import model_info
from tests.models import Account, Color, Membership, Note, Product, Ticket
from tests.support import ShopUoW, product_row, read_every_column, recorded, seed_products

BIND_LIMIT = 32_766
PLUS_TWO = timezone(timedelta(hours=2))


def stored(entity, *skip: str) -> dict:
    skipped = {"id", "created_at", "updated_at", *skip}
    return {k: getattr(entity, k) for k in model_info(type(entity)).fields if k not in skipped}


# -- bulk_create ----------------------------------------------------------------------


async def test_bulk_create_inserts_rows_and_fills_defaults(database):
    async with ShopUoW(database) as uow:
        count = await uow.products.bulk_create([product_row(1), product_row(2, stock=4)])
    assert count == 2
    async with ShopUoW(database) as uow:
        rows = await uow.products.list(order_by="sku")
    assert [(p.sku, p.stock, p.view_count) for p in rows] == [
        ("SKU-000001", 0, 0), ("SKU-000002", 4, 0)
    ]  # fmt: skip
    for p in rows:
        assert p.created_at.utcoffset() == timedelta(0) and p.updated_at.utcoffset() == timedelta(0)


NOTE_ROWS = [
    {
        "title": "full",
        "color": Color.BLUE,
        "token": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "due": date(2024, 2, 29),
        "meta": {"tags": ["a", "b"], "n": 1, "nested": {"x": None}},
        "seen_at": datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=PLUS_TWO),
    },
    {"title": "nulls", "color": "RED", "due": None, "meta": None, "seen_at": None},
    {"title": "defaults only"},
]


async def test_bulk_create_stores_every_column_type_like_an_orm_insert(database):
    async with ShopUoW(database) as uow:
        assert await uow.notes.bulk_create(NOTE_ROWS) == 3
        for row in NOTE_ROWS:
            await uow.notes.create(**{**row, "title": row["title"] + " orm"})
    async with ShopUoW(database) as uow:
        notes = {n.title: n for n in await uow.notes.list()}
    for row in NOTE_ROWS:
        bulk, orm = notes[row["title"]], notes[row["title"] + " orm"]
        read_every_column(bulk)
        assert stored(bulk, "title", "token") == stored(orm, "title", "token")
        assert isinstance(bulk.token, uuid.UUID) and bulk.created_at.utcoffset() == timedelta(0)
    full = notes["full"]
    assert full.color is Color.BLUE and full.meta == NOTE_ROWS[0]["meta"]
    assert full.token == NOTE_ROWS[0]["token"] and full.due == date(2024, 2, 29)
    assert full.seen_at == NOTE_ROWS[0]["seen_at"] and full.seen_at.tzinfo == UTC
    assert notes["nulls"].color is Color.RED and notes["nulls"].meta is None
    assert notes["defaults only"].color is Color.RED
    assert notes["defaults only"].token != notes["defaults only orm"].token


async def test_bulk_create_stores_decimals_like_an_orm_insert(database):
    prices = ["0.10", "9.99", "9.995", "12345678.91", "-3.50"]
    async with ShopUoW(database) as uow:
        await uow.products.bulk_create(
            product_row(n, price=Decimal(p)) for n, p in enumerate(prices)
        )
        await uow.products.bulk_create([product_row(99, price=7)])
    async with ShopUoW(database) as uow:
        stored_prices = [str(p.price) for p in await uow.products.list(order_by="sku")]
    assert stored_prices == ["0.10", "9.99", "10.00", "12345678.91", "-3.50", "7.00"]


async def test_bulk_create_applies_server_and_sql_expression_defaults(database):
    async with ShopUoW(database) as uow:
        await uow.tickets.bulk_create([{"title": "a"}, {"title": "b", "priority": 1}])
        await uow.tickets.create(title="orm")
    async with ShopUoW(database) as uow:
        tickets = {t.title: t for t in await uow.tickets.list()}
    assert stored(tickets["a"], "title") == stored(tickets["orm"], "title")
    assert (tickets["a"].status, tickets["a"].code, tickets["b"].priority) == ("open", "tk", 1)


async def test_bulk_create_accepts_rows_with_different_keys_and_a_generator(database):
    rows = (product_row(n, **({"category": "c"} if n % 2 else {})) for n in range(10))
    async with ShopUoW(database) as uow:
        assert await uow.products.bulk_create(rows, batch_size=3) == 10
        assert await uow.products.count(category="c") == 5
        assert await uow.products.bulk_create([]) == 0


async def test_bulk_create_of_many_rows_stays_under_the_bind_parameter_limit(database):
    async with ShopUoW(database) as uow:
        with recorded(database) as log:
            count = await uow.products.bulk_create(product_row(n) for n in range(40_000))
        assert count == 40_000
        assert await uow.products.count() == 40_000
    assert log.max_params <= BIND_LIMIT
    inserts = [(n, sets) for sql, n, sets in log.statements if sql.startswith("INSERT")]
    if database.dialect == "postgresql":
        assert inserts == []  # rows went through COPY
    else:
        # one single-row INSERT run as executemany: 7 parameters per row, 40,000 rows
        assert {n for n, _ in inserts} == {7} and sum(sets for _, sets in inserts) == 40_000


@pytest.mark.parametrize(
    "bad_row",
    [
        {"sku": "X", "name": "x", "price": Decimal(1), "colour": "red"},
        {"sku": "X", "name": "x", "price": "free"},
        {"sku": "X", "name": "x", "price": Decimal(1), "stock": 2**31},
        {"sku": "X", "name": None, "price": Decimal(1)},
        ["not", "a", "dict"],
    ],
)
async def test_bulk_create_with_a_bad_row_writes_nothing(database, bad_row):
    rows = [product_row(n) for n in range(7)] + [bad_row]
    async with ShopUoW(database) as uow:
        await uow.products.create(**product_row(100))
        with pytest.raises(InvalidQueryError):
            await uow.products.bulk_create(rows, batch_size=3)
    async with ShopUoW(database) as uow:
        assert [p.sku for p in await uow.products.list()] == ["SKU-000100"]


@pytest.mark.parametrize("batch_size", [0, -1, "10", True, 1.5])
async def test_bulk_create_rejects_a_bad_batch_size_before_sql(database, batch_size):
    async with ShopUoW(database) as uow:
        with recorded(database) as log, pytest.raises(InvalidQueryError):
            await uow.products.bulk_create([product_row(1)], batch_size=batch_size)
        with pytest.raises(InvalidQueryError):
            await uow.products.bulk_create(product_row(1))
    assert log.statements == []


async def test_bulk_create_failing_in_a_later_batch_keeps_nothing_of_the_call(database):
    [existing] = await seed_products(database, 1)
    rows = [product_row(n) for n in range(2, 30)] + [product_row(1)]
    async with ShopUoW(database) as uow:
        kept = await uow.products.create(**product_row(500))
        with pytest.raises(DuplicateError) as info:
            await uow.products.bulk_create(rows, batch_size=10)
        assert await uow.products.count() == 2
    assert info.value.details["fields"] == ["sku"]
    if database.dialect == "postgresql":
        assert info.value.details["constraint"] == "uq_products_sku"
    read_every_column(kept)
    async with ShopUoW(database) as uow:
        assert sorted(p.sku for p in await uow.products.list()) == [existing.sku, kept.sku]


async def test_bulk_create_with_a_duplicate_inside_the_call_keeps_nothing(database):
    async with ShopUoW(database) as uow:
        with pytest.raises(DuplicateError):
            await uow.products.bulk_create([product_row(1), product_row(2), product_row(1)])
        assert await uow.products.count() == 0


async def test_bulk_create_reports_missing_required_and_foreign_keys(database):
    async with ShopUoW(database) as uow:
        with pytest.raises(ConstraintError):
            await uow.products.bulk_create([{"sku": "x", "name": "no price"}])
        with pytest.raises(ConstraintError) as fk:
            await uow.orders.bulk_create([{"product_id": 404}])
        assert not isinstance(fk.value, DuplicateError)
        assert await uow.orders.count() == 0


async def test_bulk_create_sends_pending_objects_first(database):
    async with ShopUoW(database) as uow:
        product = Product(**product_row(1))
        uow.session.add(product)
        await uow.orders.bulk_create([{"product_id": 1, "quantity": 3}])
    async with ShopUoW(database) as uow:
        assert (await uow.orders.first()).quantity == 3


async def test_bulk_create_of_versioned_and_composite_key_rows(database):
    async with ShopUoW(database) as uow:
        await uow.accounts.bulk_create([{"owner": "a"}, {"owner": "b", "balance": Decimal("2")}])
        await uow.memberships.bulk_create([{"group_id": 1, "user_id": n} for n in range(3)])
    async with ShopUoW(database) as uow:
        assert [a.version for a in await uow.accounts.list()] == [1, 1]
        assert [m.role for m in await uow.memberships.list()] == ["member"] * 3


# -- bulk_update ----------------------------------------------------------------------


async def test_bulk_update_updates_rows_and_counts_matches(database):
    products = await seed_products(database, 4)
    rows = [
        {"id": products[0].id, "name": "zero", "stock": 5},
        {"id": products[1].id, "stock": 7},
        {"id": 999, "stock": 1},
        {"id": products[0].id, "category": "last wins"},
    ]
    async with ShopUoW(database) as uow:
        assert await uow.products.bulk_update(rows) == 2
        assert await uow.products.bulk_update([]) == 0
    async with ShopUoW(database) as uow:
        got = {p.id: p for p in await uow.products.list()}
    first = got[products[0].id]
    assert (first.name, first.stock, first.category) == ("zero", 5, "last wins")
    assert got[products[1].id].stock == 7 and got[products[1].id].name == products[1].name
    assert first.updated_at > products[0].updated_at
    assert got[products[2].id].updated_at == products[2].updated_at


async def test_bulk_update_refreshes_entities_the_session_holds(database):
    products = await seed_products(database, 2)
    async with ShopUoW(database) as uow:
        held = await uow.products.get(products[0].id)
        await uow.products.bulk_update([{"id": held.id, "stock": 11}])
        assert held.stock == 11
    values = read_every_column(held)
    assert values["updated_at"] > products[0].updated_at


async def test_bulk_update_bumps_versions(database):
    async with ShopUoW(database) as uow:
        a = await uow.accounts.create(owner="ann")
    async with ShopUoW(database) as uow:
        held = await uow.accounts.get(a.id)
        assert await uow.accounts.bulk_update([{"id": a.id, "balance": Decimal("4")}]) == 1
    assert held.version == 2 and held.balance == Decimal("4.00")


async def test_bulk_update_skips_soft_deleted_rows(database):
    async with ShopUoW(database) as uow:
        a = await uow.notes.create(title="a")
        b = await uow.notes.create(title="b")
        await uow.notes.soft_delete(b.id)
    async with ShopUoW(database) as uow:
        rows = [{"id": a.id, "title": "A"}, {"id": b.id, "title": "B"}]
        assert await uow.notes.bulk_update(rows) == 1
    async with ShopUoW(database) as uow:
        assert (await uow.notes.with_deleted().get_one(b.id)).title == "b"


async def test_bulk_update_with_composite_keys_and_typed_values(database):
    async with ShopUoW(database) as uow:
        await uow.memberships.bulk_create([{"group_id": 1, "user_id": n} for n in range(3)])
        n = await uow.notes.create(title="n")
    async with ShopUoW(database) as uow:
        rows = [{"group_id": 1, "user_id": 2, "role": "admin"}, {"group_id": 9, "user_id": 9}]
        assert await uow.memberships.bulk_update(rows) == 1
        seen = datetime(2024, 1, 1, 10, tzinfo=PLUS_TWO)
        row = {"id": n.id, "color": "BLUE", "meta": {"k": [1]}, "seen_at": seen}
        assert await uow.notes.bulk_update([row]) == 1
    async with ShopUoW(database) as uow:
        assert (await uow.memberships.get_one((1, 2))).role == "admin"
        note = await uow.notes.get_one(n.id)
    assert (note.color, note.meta, note.seen_at) == (Color.BLUE, {"k": [1]}, seen)


@pytest.mark.parametrize(
    "bad_row",
    [{"stock": 1}, {"id": 1, "colour": 1}, {"id": 1, "stock": "1"}, {"id": "1", "stock": 1},
     {"id": 1, "name": None}],
)  # fmt: skip
async def test_bulk_update_with_a_bad_row_writes_nothing_and_sends_no_sql(database, bad_row):
    products = await seed_products(database, 2)
    rows = [{"id": products[0].id, "stock": 50}, bad_row]
    async with ShopUoW(database) as uow:
        with recorded(database) as log, pytest.raises(InvalidQueryError):
            await uow.products.bulk_update(rows)
        assert log.statements == []
    async with ShopUoW(database) as uow:
        assert (await uow.products.get_one(products[0].id)).stock == 0


async def test_bulk_update_of_many_rows_stays_under_the_bind_parameter_limit(database):
    async with ShopUoW(database) as uow:
        await uow.products.bulk_create(product_row(n) for n in range(40_000))
    async with ShopUoW(database) as uow:
        rows = ({"id": n, "stock": n % 7} for n in range(1, 40_001))
        with recorded(database) as log:
            assert await uow.products.bulk_update(rows) == 40_000
    assert log.max_params <= BIND_LIMIT
    async with ShopUoW(database) as uow:
        assert await uow.products.count(stock=3) == len([n for n in range(1, 40_001) if n % 7 == 3])


async def test_bulk_writes_leave_other_models_alone(database):
    async with ShopUoW(database) as uow:
        await uow.tickets.bulk_create([{"title": "t"}])
        await uow.accounts.bulk_create([{"owner": "o"}])
    async with database.session() as session:
        assert (await session.execute(select(Ticket.title))).scalars().all() == ["t"]
        assert (await session.execute(select(Account.owner))).scalars().all() == ["o"]
        assert (await session.execute(select(Note))).first() is None
        assert (await session.execute(select(Membership))).first() is None


async def test_bulk_created_nulls_match_orm_nulls_for_json_and_plain_columns(database):
    rows = [{"title": "given none", "meta": None, "due": None}, {"title": "left out"}]
    async with ShopUoW(database) as uow:
        await uow.notes.bulk_create(rows)
        await uow.notes.create(title="given none", meta=None, due=None)
        await uow.notes.create(title="left out")
        for lookups in ({"meta__isnull": True}, {"due__isnull": True}, {"meta": None}):
            matched = [n.title for n in await uow.notes.list(order_by="title", **lookups)]
            assert matched.count("given none") in (0, 2) and matched.count("left out") == 2
