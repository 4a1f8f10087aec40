"""Bulk writes sent as column arrays on PostgreSQL (`unnest`), rows elsewhere: the same results.

Every test runs on SQLite and PostgreSQL; on PostgreSQL `upsert_many` writes a batch
with one `INSERT … SELECT … FROM unnest(…)` statement, so these pin down that the
arrays carry every kind of value as the row-by-row path does.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from orm_core import InvalidQueryError, OrmError, utcnow
from tests.models import Color
from tests.support import ShopUoW, recorded

AMSTERDAM = timezone(timedelta(hours=2))


def note_row(ident: int, **values: object) -> dict[str, object]:
    return {"id": ident, "title": f"note {ident}", **values}


async def test_upsert_many_carries_every_kind_of_value(database):
    seen = datetime(2024, 5, 1, 12, 30, tzinfo=AMSTERDAM)
    async with ShopUoW(database) as uow:
        await uow.notes.create(id=1, title="old", meta={"v": 0})
    rows = [
        note_row(1, color=Color.BLUE, due=date(2024, 1, 31), meta={"v": 1, "tags": ["a"]},
                 seen_at=seen),
        note_row(2, color="BLUE", due=None, meta=None, seen_at=None),
        note_row(3, color=Color.RED, due=date(2000, 2, 29), meta={"nested": {"x": [1, 2.5]}},
                 seen_at=seen + timedelta(days=1)),
    ]  # fmt: skip
    async with ShopUoW(database) as uow:
        assert await uow.notes.upsert_many(rows, conflict_fields=["id"]) == 3
    async with ShopUoW(database) as uow:
        notes = {n.id: n for n in await uow.notes.list(order_by="id")}
    assert [n.title for n in notes.values()] == ["note 1", "note 2", "note 3"]
    assert notes[1].color is Color.BLUE and notes[2].color is Color.BLUE
    assert notes[3].color is Color.RED
    assert notes[1].due == date(2024, 1, 31) and notes[2].due is None
    assert notes[1].meta == {"v": 1, "tags": ["a"]} and notes[2].meta is None
    assert notes[3].meta == {"nested": {"x": [1, 2.5]}}
    # the same instants, handed back in UTC
    assert notes[1].seen_at == seen and notes[1].seen_at.utcoffset() == timedelta(0)
    assert notes[3].seen_at == seen + timedelta(days=1) and notes[2].seen_at is None
    # a per-row default: each new row gets its own value
    tokens = [notes[2].token, notes[3].token]
    assert all(isinstance(t, uuid.UUID) for t in tokens) and tokens[0] != tokens[1]


async def test_upsert_many_collapses_repeated_keys_the_last_row_winning(database):
    rows = [
        {"sku": "A", "name": "first", "price": Decimal("1")},
        {"sku": "B", "name": "only", "price": Decimal("2")},
        {"sku": "A", "name": "last", "price": Decimal("3")},
    ]
    async with ShopUoW(database) as uow:
        assert await uow.products.upsert_many(rows, conflict_fields=["sku"]) == 2
    async with ShopUoW(database) as uow:
        found = {p.sku: (p.name, p.price) for p in await uow.products.list()}
    assert found == {"A": ("last", Decimal("3.00")), "B": ("only", Decimal("2.00"))}


async def test_upsert_many_rounds_decimals_to_the_column_scale_as_create_does(database):
    async with ShopUoW(database) as uow:
        created = await uow.products.create(sku="C", name="c", price=Decimal("2.345"))
        expected = created.price
        await uow.products.upsert_many(
            [{"sku": "U", "name": "u", "price": Decimal("2.345")},
             {"sku": "V", "name": "v", "price": Decimal("-0.005")}],
            conflict_fields=["sku"],
        )  # fmt: skip
    async with ShopUoW(database) as uow:
        prices = {p.sku: p.price for p in await uow.products.list()}
    assert expected == Decimal("2.35") and prices["U"] == expected
    assert prices["V"] == Decimal("-0.01")


async def test_upsert_many_fills_defaults_and_leaves_omitted_nullables_null(database):
    async with ShopUoW(database) as uow:
        await uow.products.upsert_many(
            [{"sku": "D", "name": "d", "price": Decimal("1")}], conflict_fields=["sku"]
        )
    async with ShopUoW(database) as uow:
        product = await uow.products.first(sku="D")
    assert product.stock == 0 and product.view_count == 0 and product.category is None
    assert abs(product.updated_at - product.created_at) < timedelta(seconds=1)
    assert abs(product.created_at - utcnow()) < timedelta(minutes=1)


async def test_upsert_many_updates_only_update_fields_and_the_managed_values(database):
    async with ShopUoW(database) as uow:
        old = await uow.documents.create(slug="s1", title="one", views=5)
        created_at, updated_at = old.created_at, old.updated_at
    rows = [
        {"slug": "s1", "title": "changed", "views": 99},
        {"slug": "s2", "title": "two", "views": 7},
    ]
    async with ShopUoW(database) as uow:
        written = await uow.documents.upsert_many(
            rows, conflict_fields=["slug"], update_fields=["title"]
        )
        assert written == 2
    async with ShopUoW(database) as uow:
        docs = {d.slug: d for d in await uow.documents.list()}
    assert docs["s1"].title == "changed" and docs["s1"].views == 5
    assert docs["s1"].version == old.version + 1 and docs["s2"].version == 1
    assert docs["s1"].created_at == created_at and docs["s1"].updated_at > updated_at
    assert docs["s2"].views == 7


async def test_upsert_many_on_a_composite_key(database):
    async with ShopUoW(database) as uow:
        await uow.memberships.create(group_id=1, user_id=1, role="member")
    rows = [
        {"group_id": 1, "user_id": 1, "role": "owner"},
        {"group_id": 1, "user_id": 2, "role": "guest"},
        {"group_id": 2, "user_id": 1},
    ]
    async with ShopUoW(database) as uow:
        assert await uow.memberships.upsert_many(rows, conflict_fields=["group_id", "user_id"])
    async with ShopUoW(database) as uow:
        found = {(m.group_id, m.user_id): m.role for m in await uow.memberships.list()}
    assert found == {(1, 1): "owner", (1, 2): "guest", (2, 1): "member"}


async def test_upsert_many_with_empty_update_fields_inserts_only_the_new_rows(database):
    async with ShopUoW(database) as uow:
        await uow.products.create(sku="E", name="kept", price=Decimal("1"))
    rows = [{"sku": s, "name": "new", "price": Decimal("2")} for s in ("E", "F", "G")]
    async with ShopUoW(database) as uow:
        inserted = await uow.products.upsert_many(rows, conflict_fields=["sku"], update_fields=[])
        assert inserted == 2
    async with ShopUoW(database) as uow:
        found = {p.sku: p.name for p in await uow.products.list()}
    assert found == {"E": "kept", "F": "new", "G": "new"}


async def test_upsert_many_writes_more_values_than_a_statement_can_bind(database):
    rows = [{"sku": f"L{i}", "name": "n", "price": Decimal(i % 7)} for i in range(45_000)]
    async with ShopUoW(database) as uow:
        assert await uow.products.upsert_many(rows, conflict_fields=["sku"]) == 45_000
    rows = [{**row, "name": "again"} for row in rows[::3]]
    async with ShopUoW(database) as uow:
        assert await uow.products.upsert_many(rows, conflict_fields=["sku"]) == 15_000
        assert await uow.products.count() == 45_000
        assert await uow.products.count(name="again") == 15_000


async def test_a_failing_row_leaves_nothing_of_the_upsert_many_written(database):
    async with ShopUoW(database) as uow:
        await uow.products.create(sku="K0", name="before", price=Decimal("1"), stock=1)
    rows = [{"sku": f"K{i}", "name": "after", "price": Decimal("1"), "stock": 1} for i in range(50)]
    rows[30]["stock"] = -1  # refused by the table's CHECK constraint, not by the values check
    async with ShopUoW(database) as uow:
        with pytest.raises(OrmError):
            await uow.products.upsert_many(rows, conflict_fields=["sku"])
        # the caller goes on and commits: the call left nothing behind
    async with ShopUoW(database) as uow:
        assert await uow.products.count() == 1
        assert (await uow.products.first(sku="K0")).name == "before"


async def test_a_value_the_field_refuses_names_its_row_and_sends_nothing(database):
    rows = [{"sku": f"R{i}", "name": "n", "price": Decimal("1")} for i in range(5)]
    rows[3]["price"] = "cheap"
    with recorded(database) as log:
        async with ShopUoW(database) as uow:
            with pytest.raises(InvalidQueryError, match="row 3"):
                await uow.products.upsert_many(rows, conflict_fields=["sku"])
    assert not [s for s, _, _ in log.statements if s.startswith("INSERT")]


async def test_upsert_many_of_a_model_with_a_sql_default_still_writes_every_row(database):
    # a default SQLAlchemy computes in SQL: the rows are sent one parameter set each
    async with ShopUoW(database) as uow:
        await uow.tickets.upsert_many(
            [{"id": i, "title": f"t{i}"} for i in range(1, 4)], conflict_fields=["id"]
        )
    async with ShopUoW(database) as uow:
        found = await uow.tickets.list(order_by="id")
    assert [(t.id, t.code, t.status, t.priority) for t in found] == [
        (1, "tk", "open", 3), (2, "tk", "open", 3), (3, "tk", "open", 3),
    ]  # fmt: skip


@pytest.mark.postgres
async def test_upsert_many_on_postgresql_sends_one_array_statement(database):
    rows = [{"sku": f"P{i}", "name": "n", "price": Decimal("1")} for i in range(100)]
    with recorded(database) as log:
        async with ShopUoW(database) as uow:
            await uow.products.upsert_many(rows, conflict_fields=["sku"])
    inserts = [(s, sets) for s, _, sets in log.statements if s.startswith("INSERT")]
    assert len(inserts) == 1 and "unnest(" in inserts[0][0] and inserts[0][1] == 1


async def test_bulk_create_checks_a_column_at_a_time_and_names_the_failing_row(database):
    rows = [{"sku": f"B{i}", "name": "n", "price": Decimal("1"), "stock": i} for i in range(9)]
    rows[4]["stock"] = "4"
    rows[6]["name"] = "x" * 201
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError, match="row 4") as refused:
            await uow.products.bulk_create(rows)
        assert refused.value.details["row"] == 4
        assert await uow.products.count() == 0


async def test_bulk_create_carries_every_kind_of_value(database):
    seen = datetime(2024, 5, 1, 12, 30, tzinfo=AMSTERDAM)
    rows = [
        note_row(1, color=Color.BLUE, due=date(2024, 1, 31), meta={"v": [1]}, seen_at=seen),
        note_row(2, color="RED", due=None, meta=None, seen_at=None),
    ]
    async with ShopUoW(database) as uow:
        assert await uow.notes.bulk_create(rows) == 2
        await uow.products.bulk_create(
            [{"sku": "P", "name": "p", "price": Decimal("2.345")}, {"sku": "Q", "name": "q",
              "price": Decimal("-0.005")}]
        )  # fmt: skip
    async with ShopUoW(database) as uow:
        notes = await uow.notes.list(order_by="id")
        prices = {p.sku: p.price for p in await uow.products.list()}
    assert [n.color for n in notes] == [Color.BLUE, Color.RED]
    assert notes[0].meta == {"v": [1]} and notes[1].meta is None
    assert notes[0].seen_at == seen and notes[0].seen_at.utcoffset() == timedelta(0)
    assert notes[0].token != notes[1].token
    assert prices == {"P": Decimal("2.35"), "Q": Decimal("-0.01")}


# -- bulk_update -------------------------------------------------------------------------


async def test_bulk_update_carries_every_kind_of_value_and_the_managed_ones(database):
    seen = datetime(2024, 5, 1, 12, 30, tzinfo=AMSTERDAM)
    async with ShopUoW(database) as uow:
        await uow.notes.bulk_create([note_row(i) for i in (1, 2, 3)])
        doc = await uow.documents.create(slug="d", title="t")
        version, updated_at = doc.version, doc.updated_at
    async with ShopUoW(database) as uow:
        rows = [
            {"id": 1, "color": Color.BLUE, "meta": {"a": [1, 2]}, "seen_at": seen},
            {"id": 2, "color": "BLUE", "meta": None, "seen_at": None},
            {"id": 1, "due": date(2024, 2, 29)},  # the same key again: merged, last wins
            {"id": 99, "color": Color.RED},  # no such row
        ]
        assert await uow.notes.bulk_update(rows) == 2
        assert await uow.documents.bulk_update([{"id": doc.id, "title": "new"}]) == 1
    async with ShopUoW(database) as uow:
        notes = {n.id: n for n in await uow.notes.list()}
        doc = await uow.documents.get_one(doc.id)
    assert notes[1].color is Color.BLUE and notes[1].meta == {"a": [1, 2]}
    assert notes[1].seen_at == seen and notes[1].due == date(2024, 2, 29)
    assert notes[2].color is Color.BLUE and notes[2].meta is None and notes[2].seen_at is None
    assert notes[3].color is Color.RED and notes[3].title == "note 3"
    assert doc.title == "new" and doc.version == version + 1 and doc.updated_at > updated_at


async def test_bulk_update_on_a_composite_key_and_beyond_the_bind_parameter_limit(database):
    async with ShopUoW(database) as uow:
        rows = [{"group_id": g, "user_id": u} for g in range(1, 201) for u in range(1, 201)]
        await uow.memberships.bulk_create(rows)
    changed = [{"group_id": g, "user_id": u, "role": "owner"} for g, u in
               ((r["group_id"], r["user_id"]) for r in rows) if (g + u) % 2 == 0]  # fmt: skip
    async with ShopUoW(database) as uow:
        assert await uow.memberships.bulk_update(changed) == 20_000
        assert await uow.memberships.count(role="owner") == 20_000
        assert await uow.memberships.count(role="member") == 20_000


async def test_a_failing_row_leaves_nothing_of_the_bulk_update_written(database):
    async with ShopUoW(database) as uow:
        await uow.products.bulk_create(
            [
                {"sku": f"F{i}", "name": "before", "price": Decimal("1"), "stock": 5}
                for i in range(5)
            ]
        )
        ids = [p.id for p in await uow.products.list(order_by="id")]
    rows = [{"id": i, "name": "after", "stock": 1} for i in ids]
    rows[3]["stock"] = -1  # the table's CHECK constraint refuses it
    async with ShopUoW(database) as uow:
        with pytest.raises(OrmError):
            await uow.products.bulk_update(rows)
    async with ShopUoW(database) as uow:
        assert {p.name for p in await uow.products.list()} == {"before"}


@pytest.mark.postgres
async def test_bulk_update_on_postgresql_sends_one_array_statement(database):
    async with ShopUoW(database) as uow:
        await uow.products.bulk_create(
            [{"sku": f"A{i}", "name": "n", "price": Decimal("1")} for i in range(50)]
        )
        ids = [p.id for p in await uow.products.list()]
    with recorded(database) as log:
        async with ShopUoW(database) as uow:
            assert await uow.products.bulk_update([{"id": i, "stock": 7} for i in ids]) == 50
    updates = [(s, sets) for s, _, sets in log.statements if s.startswith("UPDATE")]
    assert len(updates) == 1 and "unnest(" in updates[0][0] and updates[0][1] == 1
