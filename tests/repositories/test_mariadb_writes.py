"""The bulk write paths on MariaDB: the same values come back as on SQLite and PostgreSQL.

MariaDB has no arrays and no `UPDATE … RETURNING`, so `bulk_create`, `bulk_update` and
`upsert_many` send rows (executemany, `ON DUPLICATE KEY UPDATE`); the value checks
before them are the same column-at-a-time checks. Skipped when MariaDB is unreachable
at 127.0.0.1:3306.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from orm_core import Database, DuplicateError, InvalidQueryError
from tests.models import Color, Note, Product
from tests.support import ShopUoW, private_mariadb

AMSTERDAM = timezone(timedelta(hours=2))


def mariadb() -> AbstractAsyncContextManager[Database]:
    """A private MariaDB database holding the products and notes tables."""
    return private_mariadb("orm_bulk", Product.__table__, Note.__table__)


def note_row(ident: int, **values: object) -> dict[str, object]:
    return {"id": ident, "title": f"note {ident}", **values}


async def test_bulk_writes_on_mariadb_carry_every_kind_of_value():
    seen = datetime(2024, 5, 1, 12, 30, tzinfo=AMSTERDAM)
    async with mariadb() as db:
        async with ShopUoW(db) as uow:
            rows = [
                note_row(1, color=Color.BLUE, due=date(2024, 1, 31), meta={"v": [1]}, seen_at=seen),
                note_row(2, color="RED", due=None, meta=None, seen_at=None),
            ]  # fmt: skip
            assert await uow.notes.bulk_create(rows) == 2
            await uow.products.bulk_create(
                [{"sku": "P", "name": "p", "price": Decimal("2.345")},
                 {"sku": "Q", "name": "q", "price": Decimal("-0.005")}]
            )  # fmt: skip
        async with ShopUoW(db) as uow:
            notes = await uow.notes.list(order_by="id")
            prices = {p.sku: p.price for p in await uow.products.list()}
        assert [n.color for n in notes] == [Color.BLUE, Color.RED]
        assert notes[0].due == date(2024, 1, 31) and notes[1].due is None
        assert notes[0].meta == {"v": [1]} and notes[1].meta is None
        # the same instant, handed back in UTC
        assert notes[0].seen_at == seen and notes[0].seen_at.utcoffset() == timedelta(0)
        assert notes[0].token != notes[1].token
        assert prices == {"P": Decimal("2.35"), "Q": Decimal("-0.01")}

        async with ShopUoW(db) as uow:
            changed = [
                {"id": 1, "color": Color.RED, "meta": {"n": {"x": 2}}, "seen_at": None},
                {"id": 2, "color": Color.BLUE, "meta": [1, 2], "seen_at": seen},
            ]
            assert await uow.notes.bulk_update(changed) == 2
            upserted = [
                {"sku": "Q", "name": "q2", "price": Decimal("1.005")},
                {"sku": "R", "name": "r", "price": Decimal("3")},
                {"sku": "Q", "name": "q3", "price": Decimal("7.125")},  # the last one wins
            ]
            assert await uow.products.upsert_many(upserted, conflict_fields=["sku"]) == 2
        async with ShopUoW(db) as uow:
            notes = await uow.notes.list(order_by="id")
            products = {p.sku: (p.name, p.price) for p in await uow.products.list()}
        assert [(n.color, n.meta, n.seen_at) for n in notes] == [
            (Color.RED, {"n": {"x": 2}}, None),
            (Color.BLUE, [1, 2], seen),
        ]
        assert products == {
            "P": ("p", Decimal("2.35")),
            "Q": ("q3", Decimal("7.13")),  # half up, as create rounds
            "R": ("r", Decimal("3.00")),
        }


async def test_a_failing_row_on_mariadb_leaves_nothing_of_the_call_written():
    async with mariadb() as db:
        rows = [{"sku": f"B{i}", "name": "n", "price": Decimal("1"), "stock": i} for i in range(9)]
        rows[6]["name"] = "x" * 201
        async with ShopUoW(db) as uow:
            with pytest.raises(InvalidQueryError, match="row 6"):
                await uow.products.bulk_create(rows)
            assert await uow.products.count() == 0
        async with ShopUoW(db) as uow:
            await uow.products.bulk_create(rows[:3])
        # a duplicate key inside the batch: the database refuses it, the call writes nothing
        more = [{"sku": f"C{i}", "name": "n", "price": Decimal("1")} for i in range(5)]
        more.append({"sku": "B1", "name": "dup", "price": Decimal("1")})
        with pytest.raises(DuplicateError):
            async with ShopUoW(db) as uow:
                await uow.products.bulk_create(more)
        async with ShopUoW(db) as uow:
            assert sorted(p.sku for p in await uow.products.list()) == ["B0", "B1", "B2"]


async def test_framework_datetimes_keep_microseconds_on_mariadb():
    async with mariadb() as db:
        async with ShopUoW(db) as uow:
            created = await uow.products.create(sku="T", name="t", price=Decimal("1"))
            note = await uow.notes.create(
                id=1, title="n", seen_at=datetime(2024, 5, 1, 12, 30, 0, 123456, tzinfo=AMSTERDAM)
            )
        async with ShopUoW(db) as uow:
            stored = await uow.products.get_one(created.id)
            seen = (await uow.notes.get_one(note.id)).seen_at
        # DATETIME(6): the fraction survives, so two writes in one second stay ordered
        assert stored.created_at == created.created_at and stored.updated_at == created.updated_at
        assert seen == datetime(2024, 5, 1, 10, 30, 0, 123456, tzinfo=UTC)
