from __future__ import annotations

from decimal import Decimal

import pytest

from orm_core import InvalidQueryError, NotFoundError, Page
from tests.models import Membership, Product
from tests.support import ShopUoW, recorded, seed_products


async def test_get_returns_the_row_or_none(database):
    [p] = await seed_products(database, 1)
    async with ShopUoW(database) as uow:
        got = await uow.products.get(p.id)
        assert got is not None and got.sku == p.sku
        assert await uow.products.get(p.id + 1000) is None


async def test_get_one_raises_not_found_with_model_and_filters(database):
    async with ShopUoW(database) as uow:
        with pytest.raises(NotFoundError) as info:
            await uow.products.get_one(42)
    assert info.value.details == {"model": "Product", "filters": {"id": 42}}
    assert isinstance(info.value, LookupError)


@pytest.mark.parametrize("bad_id", ["1", None, 1.5, (1,), [1], True])
async def test_get_rejects_ids_of_the_wrong_type_before_sql(database, bad_id):
    async with ShopUoW(database) as uow:
        with recorded(database) as log, pytest.raises(InvalidQueryError):
            await uow.products.get(bad_id)
    assert log.statements == []


@pytest.mark.parametrize("huge", [2**40, -(2**40), 99999999999])
async def test_an_id_no_row_can_have_is_simply_not_found_without_sql(database, huge):
    await seed_products(database, 1)
    async with ShopUoW(database) as uow:
        with recorded(database) as log:
            assert await uow.products.get(huge) is None
        assert log.queries == []
        assert await uow.products.get_many([1, huge]) == [await uow.products.get(1)]
        assert await uow.products.exists_many([1, huge]) == {1: True, huge: False}
        assert await uow.products.delete(huge) is False
        assert await uow.products.increment(huge, "stock") is None
        assert await uow.products.update_if(huge, {}, stock=3) == (False, None)
        assert await uow.products.select_for_update(huge) is None
        with pytest.raises(NotFoundError):
            await uow.products.update(huge, stock=3)
        with pytest.raises(NotFoundError):
            await uow.products.get_one(huge)


async def test_get_excludes_soft_deleted_rows(database):
    async with ShopUoW(database) as uow:
        note = await uow.notes.create(title="gone")
        assert await uow.notes.soft_delete(note.id)
    async with ShopUoW(database) as uow:
        assert await uow.notes.get(note.id) is None
        with pytest.raises(NotFoundError):
            await uow.notes.get_one(note.id)
        assert (await uow.notes.with_deleted().get_one(note.id)).title == "gone"


async def test_composite_keys_take_tuples(database):
    async with ShopUoW(database) as uow:
        await uow.memberships.add_many(
            [Membership(group_id=1, user_id=1), Membership(group_id=1, user_id=2, role="admin")]
        )
    async with ShopUoW(database) as uow:
        got = await uow.memberships.get((1, 2))
        assert got is not None and got.role == "admin"
        assert await uow.memberships.get((2, 1)) is None
        with pytest.raises(NotFoundError) as info:
            await uow.memberships.get_one((9, 9))
        assert info.value.details["filters"] == {"id": (9, 9)}
        many = await uow.memberships.get_many([(1, 2), (5, 5), (1, 1)], preserve_order=True)
        assert [(m.group_id, m.user_id) for m in many] == [(1, 2), (1, 1)]
        assert await uow.memberships.exists_many([(1, 1), (3, 3)]) == {(1, 1): True, (3, 3): False}
        for bad in (1, (1,), (1, 2, 3), ("a", 1)):
            with pytest.raises(InvalidQueryError):
                await uow.memberships.get(bad)


async def test_get_many_runs_one_query_and_skips_missing_ids(database):
    products = await seed_products(database, 5)
    ids = [products[3].id, 999, products[0].id, products[2].id]
    async with ShopUoW(database) as uow:
        with recorded(database) as log:
            found = await uow.products.get_many(ids)
        assert len(log.queries) == 1
        assert {p.id for p in found} == {products[3].id, products[0].id, products[2].id}


async def test_get_many_preserves_the_order_of_ids_when_asked(database):
    products = await seed_products(database, 5)
    ids = [products[4].id, products[1].id, 12345, products[3].id, products[1].id]
    async with ShopUoW(database) as uow:
        found = await uow.products.get_many(ids, preserve_order=True)
    assert [p.id for p in found] == [products[4].id, products[1].id, products[3].id]


async def test_get_many_of_nothing_returns_an_empty_list_without_sql(database):
    async with ShopUoW(database) as uow:
        with recorded(database) as log:
            assert await uow.products.get_many([]) == []
            assert await uow.products.exists_many([]) == {}
    assert log.queries == []


async def test_get_many_rejects_a_string_or_bad_ids_before_sql(database):
    async with ShopUoW(database) as uow:
        with recorded(database) as log:
            for bad in ("123", [1, "x"], 5):
                with pytest.raises(InvalidQueryError):
                    await uow.products.get_many(bad)
    assert log.statements == []


async def test_exists_and_exists_many(database):
    products = await seed_products(database, 3)
    async with ShopUoW(database) as uow:
        assert await uow.products.exists(sku=products[0].sku)
        assert not await uow.products.exists(sku="nope")
        assert await uow.products.exists(Product.price > Decimal("0.02"))
        with recorded(database) as log:
            result = await uow.products.exists_many([products[0].id, 77, products[2].id])
        assert result == {products[0].id: True, 77: False, products[2].id: True}
        assert len(log.queries) == 1


async def test_exists_many_hides_soft_deleted_rows(database):
    async with ShopUoW(database) as uow:
        a = await uow.notes.create(title="a")
        b = await uow.notes.create(title="b")
        await uow.notes.soft_delete(b.id)
        assert await uow.notes.exists_many([a.id, b.id]) == {a.id: True, b.id: False}
        assert not await uow.notes.exists(title="b")
        assert await uow.notes.with_deleted().exists(title="b")


async def test_count_counts_matching_rows(database):
    await seed_products(database, 7)
    async with ShopUoW(database) as uow:
        assert await uow.products.count() == 7
        assert await uow.products.count(price__gt=Decimal("0.04")) == 3
        assert await uow.products.count(Product.sku.in_(["SKU-000001", "x"])) == 1


async def test_list_orders_limits_and_offsets(database):
    await seed_products(database, 6)
    async with ShopUoW(database) as uow:
        names = [p.name for p in await uow.products.list(order_by="-price", limit=3, offset=1)]
        assert names == ["Product 5", "Product 4", "Product 3"]
        ordered = await uow.products.list(order_by=["stock", "-sku"])
        assert [p.sku for p in ordered][:2] == ["SKU-000006", "SKU-000005"]
        by_expr = await uow.products.list(order_by=Product.price.desc(), limit=1)
        assert by_expr[0].name == "Product 6"
        assert await uow.products.list(limit=0) == []


@pytest.mark.parametrize(
    ("kwargs"),
    [{"limit": -1}, {"offset": -1}, {"limit": "3"}, {"limit": True}, {"order_by": "nope"},
     {"order_by": "-"}, {"order_by": 3}, {"order_by": ["price", "-bogus"]}],
)  # fmt: skip
async def test_list_rejects_bad_arguments_before_sql(database, kwargs):
    async with ShopUoW(database) as uow:
        with recorded(database) as log, pytest.raises(InvalidQueryError):
            await uow.products.list(**kwargs)
    assert log.statements == []


async def test_first_returns_the_lowest_key_by_default_or_none(database):
    await seed_products(database, 3)
    async with ShopUoW(database) as uow:
        first = await uow.products.first()
        assert first is not None and first.sku == "SKU-000001"
        last = await uow.products.first(order_by="-price")
        assert last is not None and last.sku == "SKU-000003"
        assert await uow.products.first(sku="missing") is None


async def test_paginate_returns_pages_with_totals(database):
    await seed_products(database, 45)
    async with ShopUoW(database) as uow:
        page = await uow.products.paginate(page=3, page_size=20, order_by="price")
    assert isinstance(page, Page)
    assert (page.total, page.page, page.page_size, page.total_pages) == (45, 3, 20, 3)
    assert [p.sku for p in page.items] == [f"SKU-{n:06d}" for n in range(41, 46)]
    assert not page.has_next and page.has_prev
    mapped = page.map(lambda p: p.sku)
    assert mapped.items[0] == "SKU-000041" and mapped.total == 45


async def test_paginate_counts_with_one_subquery_not_a_window_over_every_match(database):
    # `count(*) OVER ()` made the database build and sort every match to count them
    await seed_products(database, 25)
    async with ShopUoW(database) as uow:
        with recorded(database) as log:
            page = await uow.products.paginate(page=2, page_size=10, price__gt=Decimal("0.05"))
    assert [p.sku for p in page.items] == [f"SKU-{n:06d}" for n in range(16, 26)]
    assert page.total == 20
    assert len(log.queries) == 1
    assert " OVER " not in log.queries[0].upper()


async def test_paginate_pages_never_overlap_when_the_order_has_ties(database):
    await seed_products(database, 30, stock=5)
    async with ShopUoW(database) as uow:
        seen = []
        for number in (1, 2, 3):
            page = await uow.products.paginate(page=number, page_size=10, order_by="stock")
            seen.extend(p.id for p in page.items)
    assert len(seen) == len(set(seen)) == 30


async def test_paginate_with_no_rows_has_zero_pages(database):
    async with ShopUoW(database) as uow:
        page = await uow.products.paginate(price__gt=Decimal("1"))
    assert (page.items, page.total, page.total_pages) == ([], 0, 0)
    assert not page.has_next and not page.has_prev


async def test_paginate_past_the_end_is_empty_but_counted(database):
    await seed_products(database, 3)
    async with ShopUoW(database) as uow:
        page = await uow.products.paginate(page=5, page_size=2)
    assert page.items == [] and page.total == 3 and page.total_pages == 2 and page.has_prev


@pytest.mark.parametrize(
    "kwargs",
    [{"page": 0}, {"page": -1}, {"page_size": 0}, {"page_size": 1001}, {"page": "2"},
     {"page_size": 2.5}, {"page": True}],
)  # fmt: skip
async def test_paginate_rejects_out_of_bounds_pages_before_sql(database, kwargs):
    async with ShopUoW(database) as uow:
        with recorded(database) as log, pytest.raises(InvalidQueryError):
            await uow.products.paginate(**kwargs)
    assert log.statements == []


async def test_paginate_honours_a_subclass_max_page_size(database):
    from tests.support import ProductRepository

    class SmallPages(ProductRepository):
        max_page_size = 5

    async with ShopUoW(database) as uow:
        repo = uow.repository(SmallPages)
        assert (await repo.paginate(page_size=5)).page_size == 5
        with pytest.raises(InvalidQueryError):
            await repo.paginate(page_size=6)


async def test_exists_many_keys_the_answer_by_the_ids_as_given(database):
    async with ShopUoW(database) as uow:
        note = await uow.notes.create(title="a")
        assert await uow.notes.exists_many([note.id, 99]) == {note.id: True, 99: False}
        await uow.memberships.create(group_id=1, user_id=1)
        answer = await uow.memberships.exists_many([[1, 1], (2, 2)])
        assert answer == {(1, 1): True, (2, 2): False}
