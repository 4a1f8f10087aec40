"""JSON lookups: paths, typed comparisons, containment and key tests, the same on both databases."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orm_core import OPERATORS, InvalidQueryError
from tests.support import ShopUoW, recorded

SHEETS = {
    "a": {"colour": "red", "size": 3, "flag": True, "tags": ["x", "y"], "meta": {"shop": "y"}},
    "b": {"colour": "blue", "size": "big", "flag": 1, "tags": ["y"], "meta": {"shop": "z", "n": 2}},
    "c": {"colour": "Red", "size": 7.5, "tags": [], "items": [{"k": 1}, {"k": 2, "x": None}]},
    "d": {"size": None, "list": [1, [2, 3]], "nested": {"a": {"b": {"c": "deep"}}}},
    "e": [1, 2, "three"],
    "f": None,
}


@pytest.fixture
async def sheets(database):
    async with ShopUoW(database) as uow:
        for name, data in SHEETS.items():
            await uow.sheets.create(name=name, data=data)
    return database


CASES = [
    ({"data__colour": "red"}, ["a"]),
    ({"data__colour__iexact": "RED"}, ["a", "c"]),
    ({"data__colour__icontains": "E"}, ["a", "b", "c"]),
    ({"data__colour__startswith": "R"}, ["c"]),
    ({"data__colour__in": ["red", "blue"]}, ["a", "b"]),
    ({"data__colour__not_in": ["red"]}, ["b", "c"]),
    ({"data__colour__ne": "red"}, ["b", "c"]),
    ({"data__size": 3}, ["a"]),
    ({"data__size__gt": 3}, ["c"]),  # "big" is a string: never greater than a number
    ({"data__size__gte": 3}, ["a", "c"]),
    ({"data__size__lt": 5}, ["a"]),
    ({"data__size__between": (1, 5)}, ["a"]),
    ({"data__size__gt": "a"}, ["b"]),  # strings compare with strings only
    ({"data__size": None}, ["d"]),  # JSON null at the path
    ({"data__size__isnull": True}, ["e", "f"]),  # no such key
    ({"data__size__isnull": False}, ["a", "b", "c", "d"]),
    ({"data__flag": True}, ["a"]),  # 1 is not true
    ({"data__flag": 1}, ["b"]),  # and true is not 1
    ({"data__meta__shop": "y"}, ["a"]),
    ({"data__meta__n__gte": 2}, ["b"]),
    ({"data__nested__a__b__c": "deep"}, ["d"]),
    ({"data__tags__0": "x"}, ["a"]),
    ({"data__tags__1": "y"}, ["a"]),
    ({"data__items__1__k": 2}, ["c"]),
    ({"data__0": 1}, ["e"]),
    ({"data__2": "three"}, ["e"]),
    ({"data__tags__contains": "y"}, ["a", "b"]),  # a scalar within an array
    ({"data__tags__contains": ["x", "y"]}, ["a"]),
    ({"data__tags__contains": []}, ["a", "b", "c"]),
    ({"data__contains": {"colour": "red"}}, ["a"]),
    ({"data__contains": {"meta": {"shop": "z"}}}, ["b"]),
    ({"data__contains": {"items": [{"k": 2}]}}, ["c"]),
    ({"data__contains": {"list": [[3]]}}, ["d"]),
    ({"data__contains": [2, 1]}, ["e"]),
    ({"data__contains": 2}, ["e"]),
    ({"data__contains": {"list": 1}}, []),  # a primitive within an array only at the top
    ({"data__has_key": "tags"}, ["a", "b", "c"]),
    ({"data__has_key": "size"}, ["a", "b", "c", "d"]),  # a key holding null is a key
    ({"data__meta__has_key": "n"}, ["b"]),
    ({"data__has_keys": ["tags", "meta"]}, ["a", "b"]),
    ({"data__has_key": "three"}, []),  # array elements are not keys
    ({"data__nope": "x"}, []),  # a key that does not exist matches nothing
    ({"data__nope__isnull": True}, ["a", "b", "c", "d", "e", "f"]),
    ({"data__meta": {"n": 2, "shop": "z"}}, ["b"]),  # object equality ignores key order
    ({"data__tags": ["y", "x"]}, []),  # array equality does not
    ({"data__tags": ["x", "y"]}, ["a"]),
    ({"data": None}, ["f"]),  # the column itself: SQL NULL
    ({"data__isnull": False}, ["a", "b", "c", "d", "e"]),
    ({"data__colour": "red", "name": "a"}, ["a"]),
]


@pytest.mark.parametrize(("lookups", "expected"), CASES)
async def test_json_lookups_give_the_same_answers_on_both_databases(sheets, lookups, expected):
    async with ShopUoW(sheets) as uow:
        found = await uow.sheets.list(**lookups, order_by="name")
        assert [s.name for s in found] == expected
        assert await uow.sheets.count(**lookups) == len(expected)


async def test_json_lookups_work_in_writes_and_the_dict_form(sheets):
    async with ShopUoW(sheets) as uow:
        assert await uow.sheets.update_where({"name": "A"}, data__colour="red") == 1
        assert await uow.sheets.count(data__colour={"in": ["red", "blue"]}) == 2
        assert await uow.sheets.delete_where(data__has_key="items") == 1
        assert await uow.sheets.first(name="A", data__size__lte=3) is not None


@pytest.mark.parametrize(
    "lookups",
    [
        {"data__size__gt": [1]},
        {"data__size__gt": True},
        {"data__size__between": (1, "z")},
        {"data__has_key": 3},
        {"data__has_keys": "tags"},
        {"data__colour__icontains": 3},
        {"data__colour": object()},
        {"data__colour": "a\x00b"},
        {"data__contains": {"a": "\x00"}},
        {"data__colour__in": "red"},
        {"data__a__": 1},
        {"data__colour__isnull": "yes"},
    ],
)
async def test_bad_json_lookups_fail_before_any_sql(database, lookups):
    async with ShopUoW(database) as uow:
        with recorded(database) as log, pytest.raises(InvalidQueryError):
            await uow.sheets.list(**lookups)
        assert log.queries == []


async def test_keys_are_bound_values_never_sql_text(sheets):
    async with ShopUoW(sheets) as uow:
        with recorded(sheets) as log:
            hostile = {"data__x') OR 1=1 --": "y", "data__a;drop table sheets": 1}
            assert await uow.sheets.list(**hostile) == []
        assert all("drop table" not in sql.lower() for sql in log.sql)
        assert await uow.sheets.count() == len(SHEETS)


NOT_OPERATORS = st.text(min_size=1, max_size=8).filter(
    lambda k: k not in (*OPERATORS, "has_key", "has_keys")
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    key=NOT_OPERATORS,
    value=st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5)),
)
async def test_any_key_and_value_either_match_or_not_without_an_error(sheets, key, value):
    async with ShopUoW(sheets) as uow:
        try:
            await uow.sheets.count(**{f"data__{key}": value})
        except InvalidQueryError:
            refused = ("\x00", '"', "\\", "__")
            assert any(c in key for c in refused) or key.endswith("_") or (
                isinstance(value, str) and "\x00" in value
            )
