from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from orm_core import OPERATORS, InvalidQueryError
from tests.models import Color, Product
from tests.support import ShopUoW, recorded

PRODUCTS = [
    ("A-1", "Red Apple", "1.50", 0, "fruit"),
    ("A-2", "green apple", "2.00", 5, "fruit"),
    ("B-1", "100% Cotton", "15.00", 7, None),
    ("B-2", "1000 Cotton", "9.99", 2, "cloth"),
    ("C-1", "snake_case", "3.25", 9, "misc"),
    ("C-2", "snakeXcase", "4.00", 1, "misc"),
]


@pytest.fixture
async def shop(database):
    async with ShopUoW(database) as uow:
        for sku, name, price, stock, category in PRODUCTS:
            await uow.products.create(
                sku=sku, name=name, price=Decimal(price), stock=stock, category=category
            )
    return database


async def skus(database, *where, **lookups) -> list[str]:
    async with ShopUoW(database) as uow:
        return [p.sku for p in await uow.products.list(*where, order_by="sku", **lookups)]


def test_the_operator_list_matches_the_contract():
    assert set(OPERATORS) == {
        "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "icontains",
        "startswith", "istartswith", "endswith", "iendswith", "isnull", "between", "iexact",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("lookups", "expected"),
    [
        ({"sku": "A-1"}, ["A-1"]),
        ({"sku__eq": "A-1"}, ["A-1"]),
        ({"sku__ne": "A-1"}, ["A-2", "B-1", "B-2", "C-1", "C-2"]),
        ({"price__gt": Decimal("4.00")}, ["B-1", "B-2"]),
        ({"price__gte": Decimal("4.00")}, ["B-1", "B-2", "C-2"]),
        ({"stock__lt": 2}, ["A-1", "C-2"]),
        ({"stock__lte": 2}, ["A-1", "B-2", "C-2"]),
        ({"stock__in": [0, 9, 42]}, ["A-1", "C-1"]),
        ({"stock__in": range(5, 6)}, ["A-2"]),
        ({"stock__in": {5, 99}}, ["A-2"]),
        ({"stock__in": []}, []),
        ({"stock__not_in": [0, 9]}, ["A-2", "B-1", "B-2", "C-2"]),
        ({"name__contains": "apple"}, ["A-2"]),
        ({"name__icontains": "APPLE"}, ["A-1", "A-2"]),
        ({"name__startswith": "red"}, []),
        ({"name__istartswith": "red"}, ["A-1"]),
        ({"name__endswith": "Cotton"}, ["B-1", "B-2"]),
        ({"name__endswith": "cotton"}, []),
        ({"name__iendswith": "COTTON"}, ["B-1", "B-2"]),
        ({"category__isnull": True}, ["B-1"]),
        ({"category__isnull": False}, ["A-1", "A-2", "B-2", "C-1", "C-2"]),
        ({"category": None}, ["B-1"]),
        ({"category__ne": None}, ["A-1", "A-2", "B-2", "C-1", "C-2"]),
        ({"price__between": (Decimal("2"), Decimal("4"))}, ["A-2", "C-1", "C-2"]),
        ({"stock__between": [5, 7]}, ["A-2", "B-1"]),
        ({"price": {"gt": Decimal("2"), "lt": Decimal("5")}}, ["C-1", "C-2"]),
        ({"name": {"icontains": "cotton", "startswith": "100%"}}, ["B-1"]),
        ({"stock": {"in": [1, 2]}}, ["B-2", "C-2"]),
        ({"category": {"isnull": True}}, ["B-1"]),
        ({"stock__gt": 0, "category": "misc"}, ["C-1", "C-2"]),
    ],
)
async def test_every_operator_filters_the_same_on_both_databases(shop, lookups, expected):
    assert await skus(shop, **lookups) == expected


@pytest.mark.parametrize(
    ("lookups", "expected"),
    [
        ({"name__contains": "%"}, ["B-1"]),
        ({"name__contains": "0%"}, ["B-1"]),
        ({"name__startswith": "100%"}, ["B-1"]),
        ({"name__contains": "_"}, ["C-1"]),
        ({"name__icontains": "E_C"}, ["C-1"]),
        ({"name__endswith": "_case"}, ["C-1"]),
        ({"name__iendswith": "%"}, []),
        ({"name__contains": "/"}, []),
        ({"name__istartswith": "snake_"}, ["C-1"]),
    ],
)
async def test_wildcards_in_text_lookups_match_literally(shop, lookups, expected):
    assert await skus(shop, **lookups) == expected


async def test_contains_is_case_sensitive_and_icontains_is_not(shop):
    assert await skus(shop, name__contains="Apple") == ["A-1"]
    assert await skus(shop, name__contains="APPLE") == []
    assert await skus(shop, name__icontains="aPpLe") == ["A-1", "A-2"]
    assert await skus(shop, name__startswith="Green") == []
    assert await skus(shop, name__istartswith="Green") == ["A-2"]


async def test_lookups_combine_with_sqlalchemy_expressions(shop):
    assert await skus(shop, Product.stock > 4, category="misc") == ["C-1"]


async def test_lookups_on_enum_uuid_date_and_datetime_columns(database):
    now = datetime.now(UTC)
    async with ShopUoW(database) as uow:
        a = await uow.notes.create(title="a", color=Color.BLUE, due=date(2024, 1, 2), seen_at=now)
        await uow.notes.create(title="b", due=date(2024, 3, 1))
    async with ShopUoW(database) as uow:
        notes = uow.notes
        assert [n.title for n in await notes.list(color=Color.BLUE)] == ["a"]
        assert [n.title for n in await notes.list(color="BLUE")] == ["a"]
        assert [n.title for n in await notes.list(color__in=[Color.RED])] == ["b"]
        assert [n.title for n in await notes.list(token=str(a.token))] == ["a"]
        assert [n.title for n in await notes.list(due__gt=date(2024, 2, 1))] == ["b"]
        assert [n.title for n in await notes.list(seen_at__gte=now - timedelta(seconds=1))] == ["a"]
        assert [n.title for n in await notes.list(seen_at=now)] == ["a"]


@pytest.mark.parametrize(
    "lookups",
    [
        {"nope": 1},
        {"nope__gt": 1},
        {"price__gtx": 1},
        {"price__like": "1"},
        {"price": {"bigger": 1}},
        {"price": {}},
        {"price__gt": "cheap"},
        {"price__gt": None},
        {"price": float("nan")},
        {"stock": "3"},
        {"stock": 1.5},
        {"stock": True},
        {"stock__in": "123"},
        {"stock__in": 3},
        {"stock__in": [1, "2"]},
        {"stock__not_in": "12"},
        {"stock__between": (1, 2, 3)},
        {"stock__between": (1,)},
        {"stock__between": "12"},
        {"stock__between": (1, None)},
        {"stock__contains": "1"},
        {"price__icontains": "1"},
        {"name__contains": 1},
        {"name__startswith": None},
        {"category__isnull": "yes"},
        {"sku": "a\x00b"},
        {"sku__in": ["a", "b\x00"]},
        {"name__icontains": "\x00"},
        {"name__iexact": 3},
        {"stock__iexact": "3"},
    ],
)
async def test_bad_lookups_raise_invalid_query_before_any_sql(database, lookups):
    async with ShopUoW(database) as uow:
        with recorded(database) as log:
            for call in (uow.products.list, uow.products.count, uow.products.exists,
                         uow.products.first, uow.products.paginate):  # fmt: skip
                with pytest.raises(InvalidQueryError):
                    await call(**lookups)
            with pytest.raises(InvalidQueryError):
                await uow.products.update_where({"stock": 1}, **lookups)
            with pytest.raises(InvalidQueryError):
                await uow.products.delete_where(**lookups)
    assert log.statements == []


async def test_bad_lookup_errors_name_the_field_and_allowed_values(database):
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError) as unknown:
            await uow.products.list(colour="red")
        with pytest.raises(InvalidQueryError) as operator:
            await uow.products.list(price__bigger=1)
    assert unknown.value.details["field"] == "colour"
    assert "price" in unknown.value.details["allowed"]
    assert operator.value.details["operator"] == "bigger"
    assert isinstance(unknown.value, ValueError)


async def test_json_columns_compare_json_values_and_keep_sql_null_tests(database):
    async with ShopUoW(database) as uow:
        await uow.notes.create(title="a", meta={"k": 1})
        await uow.notes.create(title="b")
        assert [n.title for n in await uow.notes.list(meta__isnull=False)] == ["a"]
        assert [n.title for n in await uow.notes.list(meta=None)] == ["b"]
        assert [n.title for n in await uow.notes.list(meta={"k": 1})] == ["a"]
        assert [n.title for n in await uow.notes.list(meta__k__gt=0)] == ["a"]
        with recorded(database) as log:
            for lookups in ({"meta__gt": [1]}, {"meta__in": "x"}, {"meta__k__has_keys": "x"}):
                with pytest.raises(InvalidQueryError):
                    await uow.notes.list(**lookups)
        assert log.statements == []


async def test_in_lists_past_the_bind_parameter_limit_work_on_both_databases(shop):
    ids = list(range(3, 40_003))
    names = [f"name {n}" for n in range(20_000)] + ["100% Cotton", "it's"]
    async with ShopUoW(shop) as uow:
        with recorded(shop) as log:
            assert [p.sku for p in await uow.products.list(id__in=ids, order_by="sku")] == [
                "B-1", "B-2", "C-1", "C-2"
            ]  # fmt: skip
            assert await uow.products.count(id__not_in=ids) == 2
            assert await uow.products.count(name__in=names, id={"in": ids}) == 1
    assert log.max_params < 100


@pytest.mark.parametrize(
    ("lookups", "expected"),
    [
        ({"stock": 2**31}, []),
        ({"stock__ne": 2**31}, ["a", "b", "c"]),
        ({"stock__lt": 2**40}, ["a", "b", "c"]),
        ({"stock__lte": 2**40}, ["a", "b", "c"]),
        ({"stock__gt": 2**40}, []),
        ({"stock__gt": -(2**40)}, ["a", "b", "c"]),
        ({"stock__lt": -(2**40)}, []),
        ({"stock__in": [2**40, 5]}, ["b"]),
        ({"stock__in": [2**40]}, []),
        ({"stock__not_in": [2**40, 5]}, ["a", "c"]),
        ({"stock__not_in": [2**40]}, ["a", "b", "c"]),
        ({"stock__between": (1, 2**40)}, ["b", "c"]),
        ({"stock__between": (-(2**40), 5)}, ["a", "b"]),
        ({"stock__between": (2**40, 2**41)}, []),
        ({"sku": "x" * 51}, []),
        ({"sku__ne": "x" * 51}, ["a", "b", "c"]),
        ({"sku__in": ["x" * 51, "b"]}, ["b"]),
        ({"sku__lt": "b" + "x" * 60}, ["a", "b"]),
        ({"price": Decimal("1e12")}, []),
        ({"price__lt": Decimal("1e12")}, ["a", "b", "c"]),
    ],
)
async def test_values_no_row_can_hold_decide_the_comparison_without_an_error(
    database, lookups, expected
):
    async with ShopUoW(database) as uow:
        for sku, stock in (("a", 0), ("b", 5), ("c", 9)):
            await uow.products.create(sku=sku, name=sku, price=Decimal(1), stock=stock)
        found = await uow.products.list(**lookups, order_by="sku")
        assert [p.sku for p in found] == expected
        assert await uow.products.count(**lookups) == len(expected)


async def test_iexact_matches_text_whatever_its_case(database):
    async with ShopUoW(database) as uow:
        await uow.products.create(sku="Apple", name="x", price=Decimal(1))
        await uow.products.create(sku="apples", name="y", price=Decimal(1))
        assert [p.sku for p in await uow.products.list(sku__iexact="APPLE")] == ["Apple"]
        assert await uow.products.count(sku={"iexact": "aPPles"}) == 1


async def test_a_nul_character_is_refused_in_writes_as_in_reads(database):
    async with ShopUoW(database) as uow:
        with recorded(database) as log:
            with pytest.raises(InvalidQueryError):
                await uow.products.create(sku="a\x00", name="x", price=Decimal(1))
            with pytest.raises(InvalidQueryError):
                await uow.products.bulk_create([{"sku": "b", "name": "\x00", "price": 1}])
            with pytest.raises(InvalidQueryError):
                await uow.products.upsert(conflict_fields="sku", sku="c\x00", name="x", price=1)
        assert [s for s in log.queries if "INSERT" in s.upper()] == []
