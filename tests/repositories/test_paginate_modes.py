from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text

from orm_core import InvalidQueryError, Page
from tests.models import Product
from tests.support import ShopUoW, recorded


async def _seed(database, count):
    async with ShopUoW(database) as uow:
        await uow.products.bulk_create(
            {"sku": f"S-{n}", "name": f"P{n}", "price": Decimal(n), "stock": n % 2}
            for n in range(1, count + 1)
        )


def _counts(statements):
    return [s for s in statements if "count(*)" in s.lower()]


async def test_exact_is_the_default_and_counts(database):
    await _seed(database, 45)
    async with ShopUoW(database) as uow:
        page = await uow.products.paginate(page=2, page_size=20)
        same = await uow.products.paginate(page=2, page_size=20, count="exact")
    assert page == same
    assert (page.total, page.total_pages, page.has_next, page.has_prev) == (45, 3, True, True)
    assert [p.id for p in page.items] == list(range(21, 41))


async def test_none_skips_counting_and_answers_has_next_from_one_extra_row(database):
    await _seed(database, 40)
    with recorded(database) as log:
        async with ShopUoW(database) as uow:
            first = await uow.products.paginate(page=1, page_size=20, count="none")
            last = await uow.products.paginate(page=2, page_size=20, count="none")
            beyond = await uow.products.paginate(page=3, page_size=20, count="none")
            filtered = await uow.products.paginate(stock=1, page_size=15, count="none")
    assert not _counts(log.sql)
    assert isinstance(first, Page)
    assert (first.total, first.total_pages, first.has_next, first.has_prev) == (
        None, None, True, False,
    )  # fmt: skip
    assert len(first.items) == 20 and [p.id for p in last.items] == list(range(21, 41))
    assert last.has_next is False and last.has_prev is True and last.total is None
    assert beyond.items == [] and beyond.has_next is False
    assert len(filtered.items) == 15 and filtered.has_next is True


async def test_estimate_is_exact_on_the_last_page_without_counting(database):
    await _seed(database, 25)
    with recorded(database) as log:
        async with ShopUoW(database) as uow:
            last = await uow.products.paginate(page=2, page_size=20, count="estimate")
            only = await uow.products.paginate(stock=0, page_size=20, count="estimate")
            empty = await uow.products.paginate(name="nobody", count="estimate")
    assert not _counts(log.sql)
    assert (last.total, last.total_pages, last.has_next) == (25, 2, False)
    assert (only.total, only.total_pages) == (12, 1)
    assert (empty.total, empty.total_pages, empty.items) == (0, 0, [])


@pytest.mark.sqlite
async def test_estimate_falls_back_to_an_exact_count_on_sqlite(database):
    await _seed(database, 45)
    async with ShopUoW(database) as uow:
        page = await uow.products.paginate(page=1, page_size=20, count="estimate")
        beyond = await uow.products.paginate(page=9, page_size=20, count="estimate")
    assert (page.total, page.total_pages, page.has_next) == (45, 3, True)
    assert (beyond.total, beyond.items, beyond.has_next) == (45, [], False)


@pytest.mark.postgres
async def test_estimate_comes_from_the_planner_on_postgresql(database):
    await _seed(database, 3000)
    async with database.engine.begin() as conn:
        await conn.execute(text("ANALYZE products"))
    with recorded(database) as log:
        async with ShopUoW(database) as uow:
            page = await uow.products.paginate(page=3, page_size=50, count="estimate")
            odd = await uow.products.paginate(stock=1, page=2, page_size=50, count="estimate")
    assert not _counts(log.sql)
    assert log.starting_with("EXPLAIN")
    assert 2500 <= page.total <= 3500 and page.total_pages == -(-page.total // 50)
    assert page.has_next and [p.id for p in page.items] == list(range(101, 151))
    assert 1000 <= odd.total <= 2000
    assert all(p.stock == 1 for p in odd.items)


@pytest.mark.postgres
async def test_an_estimate_is_never_below_the_rows_already_seen(database):
    await _seed(database, 300)
    async with database.engine.begin() as conn:
        # stale statistics: the planner believes the table is almost empty
        await conn.execute(text("ANALYZE products"))
        await conn.execute(text("UPDATE pg_class SET reltuples = 1 WHERE relname = 'products'"))
    async with ShopUoW(database) as uow:
        page = await uow.products.paginate(Product.id > 0, page=5, page_size=20, count="estimate")
    assert page.total is not None and page.total >= 101
    assert page.has_next is True and page.total_pages >= 6


async def test_soft_deleted_rows_are_excluded_in_every_mode(database):
    async with ShopUoW(database) as uow:
        for i in range(10):
            note = await uow.notes.create(title=f"n{i}")
            if i < 4:
                await uow.notes.soft_delete(note.id)
    async with ShopUoW(database) as uow:
        for mode in ("exact", "estimate", "none"):
            page = await uow.notes.paginate(page_size=4, count=mode)
            assert [n.title for n in page.items] == ["n4", "n5", "n6", "n7"]
            assert page.has_next is True
        last = await uow.notes.paginate(page=2, page_size=4, count="estimate")
        assert last.total == 6 and last.has_next is False


@pytest.mark.parametrize("mode", ["approximate", None, "", True, "EXACT"])
async def test_an_unknown_count_mode_is_an_invalid_query(database, mode):
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError):
            await uow.products.paginate(count=mode)


@pytest.mark.parametrize("mode", ["exact", "estimate", "none"])
async def test_page_checks_apply_in_every_mode(database, mode):
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError):
            await uow.products.paginate(page=0, count=mode)
        with pytest.raises(InvalidQueryError):
            await uow.products.paginate(page_size=1001, count=mode)
