"""Declared value constraints: checked before SQL on every write path, CHECKs, schemas."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlalchemy import func

from orm_core import ConstraintError, InvalidQueryError, schema_for
from tests.models import Listing
from tests.support import ShopUoW, recorded


def listing(n: int = 1, **values: object) -> dict[str, object]:
    return {"slug": f"item-{n}", "price": Decimal("10"), "title": f"Item {n}", **values}


BAD_VALUES = [
    ("slug", "Bad Slug", "pattern"),
    ("slug", "ab", "min_length"),
    ("price", Decimal("0"), "gt"),
    ("price", Decimal("10000.01"), "le"),
    ("stock", -1, "ge"),
    ("stock", 101, "le"),
    ("status", "gone", "choices"),
    ("title", "   ", "validators"),
]

WRITE_PATHS = {
    "create": lambda uow, ident, values: uow.listings.create(**listing(9, **values)),
    "update": lambda uow, ident, values: uow.listings.update(ident, **values),
    "update_fields": lambda uow, ident, values: _update_fields(uow, ident, values),
    "update_where": lambda uow, ident, values: uow.listings.update_where(values, id=ident),
    "bulk_update": lambda uow, ident, values: uow.listings.bulk_update([{"id": ident, **values}]),
    "update_if": lambda uow, ident, values: uow.listings.update_if(ident, {}, **values),
    "bulk_create": lambda uow, ident, values: uow.listings.bulk_create(
        [listing(n) for n in range(2, 5)] + [listing(9, **values)]
    ),
    "upsert": lambda uow, ident, values: uow.listings.upsert(
        conflict_fields="slug", **listing(1, **values)
    ),
    "upsert_many": lambda uow, ident, values: uow.listings.upsert_many(
        [listing(1), listing(9, **values)], conflict_fields="slug"
    ),
    "get_or_create": lambda uow, ident, values: uow.listings.get_or_create(
        {k: v for k, v in listing(9, **values).items() if k != "slug"}, slug="item-9"
    ),
    "update_or_create": lambda uow, ident, values: uow.listings.update_or_create(
        values, slug="item-1"
    ),
    "clone": lambda uow, ident, values: _clone(uow, ident, values),
}


async def _update_fields(uow, ident, values):
    return await uow.listings.update_fields(await uow.listings.get_one(ident), **values)


async def _clone(uow, ident, values):
    original = await uow.listings.get_one(ident)
    return await uow.listings.clone(original, **{"slug": "copy", **values})


@pytest.mark.parametrize("path", sorted(WRITE_PATHS))
@pytest.mark.parametrize(("field", "value", "rule"), BAD_VALUES)
async def test_every_write_path_checks_declared_rules_before_any_sql(
    database, path, field, value, rule
):
    async with ShopUoW(database) as uow:
        existing = await uow.listings.create(**listing(1))
    if path == "get_or_create" and field == "slug":
        pytest.skip("get_or_create looks the slug up (lookups are not validated)")
    async with ShopUoW(database) as uow:
        with recorded(database) as log, pytest.raises(InvalidQueryError) as refused:
            await WRITE_PATHS[path](uow, existing.id, {field: value})
        writes = [s for s in log.queries if s.split()[0].upper() in ("INSERT", "UPDATE")]
        assert writes == []
    assert refused.value.details["field"] == field
    assert refused.value.details["constraint"] == rule
    async with ShopUoW(database) as uow:
        assert await uow.listings.count() == 1
        assert (await uow.listings.get_one(existing.id)).title == "Item 1"


async def test_a_bad_row_deep_in_a_large_bulk_create_writes_nothing_and_is_named(database):
    rows = [listing(n) for n in range(10_000)]
    rows[7_321]["stock"] = 500
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError) as refused:
            await uow.listings.bulk_create(rows, batch_size=1_000)
        assert refused.value.details["row"] == 7_321
        assert refused.value.details["field"] == "stock"
        assert "row 7321" in refused.value.message
        assert await uow.listings.count() == 0


async def test_validators_return_the_value_to_store(database):
    async with ShopUoW(database) as uow:
        made = await uow.listings.create(**listing(1, title="  Two   words  "))
        assert made.title == "Two words"
        await uow.listings.bulk_create([listing(2, title=" spaced\tout ")])
        assert (await uow.listings.first(slug="item-2")).title == "spaced out"


async def test_counters_treat_declared_bounds_as_their_limits(database):
    async with ShopUoW(database) as uow:
        item = await uow.listings.create(**listing(1, stock=95))
        assert (await uow.listings.increment(item.id, "stock", 5)).stock == 100
        assert await uow.listings.increment(item.id, "stock") is None
        assert await uow.listings.decrement(item.id, "stock", 101) is None
        assert (await uow.listings.decrement(item.id, "stock", 100)).stock == 0
        assert await uow.listings.decrement(item.id, "stock") is None
        assert await uow.listings.increment(item.id, "stock", 7, max_value=5) is None


async def test_values_the_database_computes_are_guarded_by_check_constraints(database):
    async with ShopUoW(database) as uow:
        item = await uow.listings.create(**listing(1, stock=10))
    async with ShopUoW(database) as uow:
        with pytest.raises(ConstraintError):
            await uow.listings.update_where({"stock": Listing.stock + 1000}, id=item.id)
    async with ShopUoW(database) as uow:
        with pytest.raises(ConstraintError):
            await uow.listings.update_if(item.id, {}, status=func.lower("GONE"))
    async with ShopUoW(database) as uow:
        with recorded(database) as log, pytest.raises(InvalidQueryError):
            await uow.listings.update_where({"slug": func.upper(Listing.slug)}, id=item.id)
        assert log.queries == []
        assert (await uow.listings.get_one(item.id)).stock == 10


async def test_lookups_are_not_affected_by_declared_rules(database):
    async with ShopUoW(database) as uow:
        await uow.listings.create(**listing(1))
        assert await uow.listings.count(price__gt=20_000, stock__lt=-5) == 0
        assert await uow.listings.count(slug="Not A Slug", status="gone") == 0


def test_schemas_carry_the_declared_rules():
    schema = schema_for(Listing, exclude=["id"])
    fields = schema.model_json_schema()["properties"]
    price = fields["price"]["anyOf"][0]  # pydantic takes a decimal as a number or a string
    assert price["exclusiveMinimum"] == 0 and price["maximum"] == 10_000
    assert fields["stock"]["minimum"] == 0 and fields["stock"]["maximum"] == 100
    assert fields["slug"]["pattern"] == "^[a-z0-9-]+$" and fields["slug"]["minLength"] == 3
    assert fields["status"]["enum"] == ["draft", "live", "sold"]
    good = schema(slug="ok-1", price=Decimal(1), stock=1, status="live", title=" a  b ")
    assert good.title == "a b"
    for bad in ({"slug": "NO"}, {"price": 0}, {"stock": 101}, {"status": "x"}, {"title": " "}):
        with pytest.raises(ValidationError):
            schema(**{**good.model_dump(), **bad})


def test_a_malformed_declaration_is_a_type_error():
    from orm_core.constraints import Declared

    for info in ({"gt": "3"}, {"max_length": 2.5}, {"choices": "abc"}, {"validators": [3]}):
        with pytest.raises(TypeError):
            Declared.of("field", info)
