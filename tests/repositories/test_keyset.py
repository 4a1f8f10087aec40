from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from orm_core import CursorPage, InvalidQueryError
from orm_core.cursor import encode_cursor
from tests.models import Color, Product
from tests.support import ShopUoW

CATEGORIES = ["a", "b", None, "c"]


async def _seed_products(database, count):
    async with ShopUoW(database) as uow:
        await uow.products.bulk_create(
            {
                "sku": f"S-{n:04d}",
                "name": f"P{n % 7}",
                "price": Decimal(n % 5) + Decimal("0.99"),
                "stock": n % 3,
                "category": CATEGORIES[n % 4],
            }
            for n in range(1, count + 1)
        )


async def _walk(repo, limit=7, **kwargs):
    """Follow next_cursor from the first page to the last; return pages."""
    pages, after = [], None
    while True:
        page = await repo.paginate_cursor(after=after, limit=limit, **kwargs)
        pages.append(page)
        if not page.has_next:
            assert page.next_cursor is None
            return pages
        assert page.next_cursor is not None
        after = page.next_cursor


def _python_order(rows, specs):
    """Sort like the database: NULL is the largest value in each key."""
    def key(row):
        parts = []
        for spec in specs:
            name = spec.lstrip("-")
            value = getattr(row, name)
            rank = (1, 0) if value is None else (0, value)
            parts.append(_Reverse(rank) if spec.startswith("-") else rank)
        return parts

    return sorted(rows, key=key)


class _Reverse:
    def __init__(self, value):
        self.value = value

    def __lt__(self, other):
        return other.value < self.value

    def __eq__(self, other):
        return self.value == other.value


async def test_the_first_page_defaults_to_primary_key_order(database):
    await _seed_products(database, 30)
    async with ShopUoW(database) as uow:
        page = await uow.products.paginate_cursor()
    assert isinstance(page, CursorPage)
    assert [p.id for p in page.items] == list(range(1, 21))
    assert page.has_next and isinstance(page.next_cursor, str)


@pytest.mark.parametrize(
    "order_by",
    [
        "id",
        "-id",
        "price",
        "-price",
        ["price", "-stock"],
        ["-stock", "price", "-id"],
        "category",
        "-category",
        ["category", "-price"],
        ["-category", "name", "stock"],
        "-created_at",
    ],
    ids=str,
)
async def test_walking_every_page_visits_each_row_once_in_order(database, order_by):
    await _seed_products(database, 45)
    async with ShopUoW(database) as uow:
        everything = await uow.products.list()
        pages = await _walk(uow.products, order_by=order_by)
    seen = [p.id for page in pages for p in page.items]
    assert len(seen) == len(set(seen)) == 45
    specs = order_by if isinstance(order_by, list) else [order_by]
    expected = _python_order(sorted(everything, key=lambda p: p.id), specs)
    # rows that tie on every sort key come in primary-key order
    assert seen == [p.id for p in expected]
    assert all(len(page.items) == 7 for page in pages[:-1])


async def test_filters_apply_on_every_page(database):
    await _seed_products(database, 40)
    async with ShopUoW(database) as uow:
        pages = await _walk(uow.products, limit=3, order_by="-price", category="a")
        pages_expr = await _walk_where(uow.products, Product.stock > 0)
    assert {p.category for page in pages for p in page.items} == {"a"}
    assert sum(len(page.items) for page in pages) == 10
    assert all(p.stock > 0 for page in pages_expr for p in page.items)


async def _walk_where(repo, *where):
    pages, after = [], None
    while True:
        page = await repo.paginate_cursor(*where, after=after, limit=4, order_by="name")
        pages.append(page)
        if not page.has_next:
            return pages
        after = page.next_cursor


async def test_an_exact_multiple_of_the_limit_ends_without_an_empty_page(database):
    await _seed_products(database, 14)
    async with ShopUoW(database) as uow:
        pages = await _walk(uow.products, limit=7)
    assert [len(p.items) for p in pages] == [7, 7]


async def test_no_rows_gives_an_empty_last_page(database):
    async with ShopUoW(database) as uow:
        page = await uow.products.paginate_cursor(order_by="-price")
    assert page.items == [] and page.has_next is False and page.next_cursor is None


async def test_rows_inserted_during_the_walk_never_repeat_a_row(database):
    await _seed_products(database, 30)
    seen: list[int] = []
    after = None
    inserted = 0
    while True:
        async with ShopUoW(database) as uow:
            page = await uow.products.paginate_cursor(after=after, limit=6, order_by="-price")
        seen.extend(p.id for p in page.items)
        async with ShopUoW(database) as uow:  # another transaction inserts rows on every side
            for price in ("0.01", "2.99", "99.00"):
                inserted += 1
                await uow.products.create(sku=f"NEW-{inserted}", name="new", price=Decimal(price))
        if not page.has_next:
            break
        after = page.next_cursor
    assert len(seen) == len(set(seen))
    assert set(range(1, 31)) <= set(seen)


async def test_datetime_uuid_date_and_enum_sort_keys_round_trip(database):
    base = datetime(2024, 1, 1, tzinfo=UTC)
    async with ShopUoW(database) as uow:
        for i in range(20):
            await uow.notes.create(
                title=f"t{i % 3}",
                color=Color.RED if i % 2 else Color.BLUE,
                token=uuid.UUID(int=(i * 7919) % 101),
                due=None if i % 5 == 0 else date(2024, 1, 1) + timedelta(days=i % 4),
                seen_at=None if i % 3 == 0 else base + timedelta(microseconds=i % 6),
            )
    for order_by in ("-seen_at", "token", ["due", "-token"], ["color", "-seen_at"], "-due"):
        async with ShopUoW(database) as uow:
            pages = await _walk(uow.notes, limit=3, order_by=order_by)
        ids = [n.id for page in pages for n in page.items]
        assert sorted(ids) == list(range(1, 21)), order_by


async def test_a_composite_key_is_the_default_tie_breaker(database):
    async with ShopUoW(database) as uow:
        for g in range(3):
            for u in range(5):
                await uow.memberships.create(group_id=g, user_id=4 - u, role="r")
    async with ShopUoW(database) as uow:
        pages = await _walk(uow.memberships, limit=4)
        by_role = await _walk(uow.memberships, limit=4, order_by="-role")
    keys = [(m.group_id, m.user_id) for page in pages for m in page.items]
    assert keys == sorted(keys) and len(keys) == 15
    assert [(m.group_id, m.user_id) for page in by_role for m in page.items] == keys


async def test_a_cursor_from_another_ordering_is_rejected(database):
    await _seed_products(database, 10)
    async with ShopUoW(database) as uow:
        page = await uow.products.paginate_cursor(limit=3, order_by="-price")
        with pytest.raises(InvalidQueryError, match="ordering"):
            await uow.products.paginate_cursor(after=page.next_cursor, order_by="price")
        with pytest.raises(InvalidQueryError):
            await uow.products.paginate_cursor(after=page.next_cursor)


async def test_a_cursor_from_another_model_is_rejected(database):
    await _seed_products(database, 10)
    async with ShopUoW(database) as uow:
        await uow.notes.create(title="x")
        await uow.notes.create(title="y")
        notes_page = await uow.notes.paginate_cursor(limit=1)
        with pytest.raises(InvalidQueryError, match="another model"):
            await uow.products.paginate_cursor(after=notes_page.next_cursor)


@pytest.mark.parametrize("cursor", ["", "nonsense", "a.b.c", "%%%%", "eyJ2IjoxfQ.c2ln"])
async def test_garbage_cursors_are_invalid_queries(database, cursor):
    await _seed_products(database, 5)
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError):
            await uow.products.paginate_cursor(after=cursor)


async def test_a_forged_or_truncated_cursor_is_an_invalid_query_not_an_empty_page(database):
    await _seed_products(database, 10)
    async with ShopUoW(database) as uow:
        page = await uow.products.paginate_cursor(limit=2)
        token = page.next_cursor
        with pytest.raises(InvalidQueryError):
            await uow.products.paginate_cursor(after=token[:-3])
        with pytest.raises(InvalidQueryError):
            await uow.products.paginate_cursor(after=token[3:])
        forged = encode_cursor("products:Product", ["id"], [2]).split(".")[0] + ".AAAA"
        with pytest.raises(InvalidQueryError):
            await uow.products.paginate_cursor(after=forged)


async def test_a_signed_cursor_holding_a_wrongly_typed_value_is_rejected(database):
    async with ShopUoW(database) as uow:
        token = encode_cursor("products:Product", ["-price", "id"], ["cheap", 3])
        with pytest.raises(InvalidQueryError):
            await uow.products.paginate_cursor(after=token, order_by="-price")
        token = encode_cursor("products:Product", ["-price", "id"], [Decimal(1), None])
        with pytest.raises(InvalidQueryError):
            await uow.products.paginate_cursor(after=token, order_by="-price")


@pytest.mark.parametrize("limit", [0, -1, 1001, 2.5, "10", None, True])
async def test_a_bad_limit_is_an_invalid_query(database, limit):
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError):
            await uow.products.paginate_cursor(limit=limit)


@pytest.mark.parametrize(
    "order_by", ["nope", ["price", "-price"], Product.price.desc(), ["price", 3], "-"]
)
async def test_a_bad_ordering_is_an_invalid_query(database, order_by):
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError):
            await uow.products.paginate_cursor(order_by=order_by)


async def test_soft_deleted_rows_are_skipped_and_scopes_apply(database):
    async with ShopUoW(database) as uow:
        notes = [await uow.notes.create(title=f"n{i}") for i in range(10)]
        for note in notes[::2]:
            await uow.notes.soft_delete(note.id)
    async with ShopUoW(database) as uow:
        active = await _walk(uow.notes, limit=2)
        everything = await _walk(uow.notes.with_deleted(), limit=3)
        deleted = await _walk(uow.notes.only_deleted(), limit=3)
    assert [n.id for p in active for n in p.items] == [n.id for n in notes[1::2]]
    assert len([n for p in everything for n in p.items]) == 10
    assert [n.id for p in deleted for n in p.items] == [n.id for n in notes[::2]]


@pytest.mark.postgres
async def test_concurrent_walks_with_concurrent_inserts_each_see_every_old_row(database):
    await _seed_products(database, 60)

    async def walk(order_by):
        seen, after = [], None
        while True:
            async with ShopUoW(database) as uow:
                page = await uow.products.paginate_cursor(after=after, limit=9, order_by=order_by)
            seen.extend(p.id for p in page.items)
            if not page.has_next:
                return seen
            after = page.next_cursor

    async def insert(worker):
        for i in range(10):
            async with ShopUoW(database) as uow:
                await uow.products.create(sku=f"W{worker}-{i}", name="w", price=Decimal(i))
            await asyncio.sleep(0)

    results = await asyncio.gather(
        walk("price"), walk(["-category", "stock"]), walk("-id"), *(insert(w) for w in range(4))
    )
    for seen in results[:3]:
        assert len(seen) == len(set(seen))
        assert set(range(1, 61)) <= set(seen)
