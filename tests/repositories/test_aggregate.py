from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from orm_core import InvalidQueryError
from tests.models import Product
from tests.support import ShopUoW

ROWS = [
    # category, price, stock
    ("a", "1.10", 1),
    ("a", "2.20", 2),
    ("a", "3.30", 6),
    ("b", "10.00", 0),
    ("b", "0.05", 5),
    (None, "7.77", 3),
]


@pytest.fixture
async def shop(database):
    async with ShopUoW(database) as uow:
        await uow.products.bulk_create(
            {"sku": f"S{i}", "name": f"P{i}", "category": c, "price": Decimal(p), "stock": s}
            for i, (c, p, s) in enumerate(ROWS)
        )
    return database


async def test_aggregates_over_all_rows_give_one_row(shop):
    async with ShopUoW(shop) as uow:
        [row] = await uow.products.aggregate(
            count=True, sum="stock", avg="price", min="price", max="stock"
        )
    assert row == {
        "count": 6,
        "sum": 17,
        "avg": row["avg"],
        "min": Decimal("0.05"),
        "max": 6,
    }
    assert isinstance(row["avg"], Decimal)
    assert abs(row["avg"] - Decimal("24.42") / 6) < Decimal("0.0001")
    assert type(row["sum"]) is int and type(row["count"]) is int


async def test_groups_hold_their_fields_and_are_ordered(shop):
    async with ShopUoW(shop) as uow:
        rows = await uow.products.aggregate(group_by="category", count=True, sum="stock")
    by_category = {r["category"]: r for r in rows}
    assert by_category["a"] == {"category": "a", "count": 3, "sum": 9}
    assert by_category["b"] == {"category": "b", "count": 2, "sum": 5}
    assert by_category[None] == {"category": None, "count": 1, "sum": 3}
    assert [r["category"] for r in rows if r["category"]] == ["a", "b"]


async def test_a_list_of_fields_gives_one_key_per_field(shop):
    async with ShopUoW(shop) as uow:
        rows = await uow.products.aggregate(
            group_by=["category"], sum=["stock", "price"], max=["price", "stock"],
            category__isnull=False,
        )  # fmt: skip
    assert rows == [
        {"category": "a", "sum_stock": 9, "sum_price": Decimal("6.60"),
         "max_price": Decimal("3.30"), "max_stock": 6},
        {"category": "b", "sum_stock": 5, "sum_price": Decimal("10.05"),
         "max_price": Decimal("10.00"), "max_stock": 5},
    ]  # fmt: skip
    for row in rows:
        assert isinstance(row["sum_price"], Decimal) and isinstance(row["max_price"], Decimal)


async def test_numeric_results_are_decimals_and_integer_averages_floats(shop):
    async with ShopUoW(shop) as uow:
        [row] = await uow.products.aggregate(
            sum="price", avg=["price", "stock"], min=["price"], category="a"
        )
    assert row["sum"] == Decimal("6.60") and isinstance(row["sum"], Decimal)
    assert isinstance(row["avg_price"], Decimal)
    assert abs(row["avg_price"] - Decimal("2.2")) < Decimal("0.0001")
    assert row["avg_stock"] == pytest.approx(3.0) and isinstance(row["avg_stock"], float)
    assert row["min_price"] == Decimal("1.10")


async def test_count_of_a_field_counts_non_null_values(shop):
    async with ShopUoW(shop) as uow:
        [row] = await uow.products.aggregate(count="category")
        [both] = await uow.products.aggregate(count=["category", "id"])
    assert row == {"count": 5}
    assert both == {"count_category": 5, "count_id": 6}


async def test_group_by_alone_lists_distinct_groups(shop):
    async with ShopUoW(shop) as uow:
        rows = await uow.products.aggregate(group_by=["category"], category__isnull=False)
    assert rows == [{"category": "a"}, {"category": "b"}]


async def test_having_filters_groups_with_the_lookup_syntax(shop):
    async with ShopUoW(shop) as uow:
        big = await uow.products.aggregate(group_by="category", sum="stock", having={"sum__gt": 4})
        counted = await uow.products.aggregate(
            group_by="category", count=True, sum=["stock"], having={"count__gte": 2, "sum_stock": 5}
        )
        in_list = await uow.products.aggregate(
            group_by="category", count=True, having={"count__in": [1, 3]}
        )
        by_group = await uow.products.aggregate(
            group_by="category", max="price", having={"category__isnull": True}
        )
        between = await uow.products.aggregate(
            group_by="category", max="price", having={"max__between": (Decimal(3), Decimal(9))}
        )
    assert [r["category"] for r in big] == ["a", "b"]
    assert counted == [{"category": "b", "count": 2, "sum_stock": 5}]
    assert {r["category"] for r in in_list} == {"a", None}
    assert by_group == [{"category": None, "max": Decimal("7.77")}]
    assert {r["category"] for r in between} == {"a", None}


async def test_an_empty_table_gives_a_zero_count_and_none_sums(database):
    async with ShopUoW(database) as uow:
        assert await uow.products.aggregate(count=True, sum="price", max="stock") == [
            {"count": 0, "sum": None, "max": None}
        ]
        assert await uow.products.aggregate(group_by="category", count=True) == []


async def test_soft_deleted_rows_are_not_aggregated(database):
    async with ShopUoW(database) as uow:
        for i in range(5):
            note = await uow.notes.create(title="t", due=date(2024, 1, i + 1))
            if i >= 3:
                await uow.notes.soft_delete(note.id)
    async with ShopUoW(database) as uow:
        assert await uow.notes.aggregate(count=True, max="due") == [
            {"count": 3, "max": date(2024, 1, 3)}
        ]
        assert (await uow.notes.with_deleted().aggregate(count=True))[0]["count"] == 5
        assert (await uow.notes.only_deleted().aggregate(min="due"))[0]["min"] == date(2024, 1, 4)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sum": "nope"},
        {"count": "nope"},
        {"group_by": "nope", "count": True},
        {"max": ["price", "nope"]},
        {"avg": "name"},  # not numeric
        {"sum": "created_at"},
        {"sum": []},
        {"sum": 3},
        {"group_by": [1]},
        {},  # nothing to compute
        {"count": True, "having": {"total__gt": 1}},
        {"count": True, "having": {"count__like": 1}},
        {"count": True, "having": {"count__gt": "many"}},
        {"count": True, "having": {"count__gt": 1.5}},
        {"sum": "price", "having": {"sum__gt": "x"}},
        {"count": True, "having": {"count__in": 3}},
        {"count": True, "having": {"count__between": (1,)}},
        {"count": True, "having": {"count__isnull": "yes"}},
        {"count": True, "having": ["count"]},
        {"group_by": "count", "count": True},
        {"count": True, "colour": "red"},
    ],
    ids=repr,
)
async def test_unknown_fields_and_bad_arguments_are_invalid_queries(database, kwargs):
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError):
            await uow.products.aggregate(**kwargs)


async def test_where_expressions_narrow_the_rows(shop):
    async with ShopUoW(shop) as uow:
        [row] = await uow.products.aggregate(Product.price > 2, count=True, min="price")
    assert row == {"count": 4, "min": Decimal("2.20")}
