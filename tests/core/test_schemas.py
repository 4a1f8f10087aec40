from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError
from sqlalchemy import BigInteger, SmallInteger, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from orm_core import InvalidQueryError, schema_for
from tests.models import Color, Membership, Note, Product, Ticket
from tests.support import ShopUoW


class OtherBase(DeclarativeBase):
    pass


class Gauge(OtherBase):
    __tablename__ = "gauges"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, comment="fill level")
    label: Mapped[str] = mapped_column(String(5), default="g")
    ratio: Mapped[float | None]


def test_the_schema_is_a_pydantic_model_reading_attributes():
    schema = schema_for(Product)
    assert issubclass(schema, BaseModel)
    assert schema.model_config["from_attributes"] is True
    assert schema.__name__ == "ProductSchema"
    assert set(schema.model_fields) == {
        "id", "sku", "name", "price", "stock", "view_count", "category",
        "created_at", "updated_at",
    }  # fmt: skip


def test_required_fields_follow_nullability_and_defaults():
    fields = schema_for(Product).model_fields
    assert fields["sku"].is_required() and fields["name"].is_required()
    assert fields["price"].is_required()
    assert not fields["id"].is_required()  # autoincrement key
    assert not fields["stock"].is_required() and fields["stock"].default == 0
    assert not fields["category"].is_required() and fields["category"].default is None
    assert not fields["created_at"].is_required()  # Python-side callable default
    ticket = schema_for(Ticket).model_fields
    assert not ticket["status"].is_required()  # server default
    keys = schema_for(Membership).model_fields
    assert keys["group_id"].is_required() and keys["user_id"].is_required()


def test_types_and_constraints_are_validated():
    schema = schema_for(Product, exclude=["id", "created_at", "updated_at"])
    ok = schema(sku="A-1", name="Widget", price="9.99", category=None)
    assert ok.price == Decimal("9.99") and ok.stock == 0
    for bad in (
        {"sku": "x" * 51},  # String(50)
        {"price": "1.999"},  # Numeric(12, 2): two decimal places
        {"price": "12345678901.00"},  # 13 digits
        {"stock": 2**31},  # out of INTEGER range
        {"stock": "many"},
        {"name": None},  # NOT NULL
        {"category": "c" * 51},
    ):
        with pytest.raises(ValidationError):
            schema(**{"sku": "A", "name": "n", "price": "1", **bad})
    assert schema(sku="A", name="n", price=1, stock=2**31 - 1).stock == 2**31 - 1


def test_integer_sizes_strings_comments_and_other_bases():
    schema = schema_for(Gauge)
    with pytest.raises(ValidationError):
        schema(id=1, level=2**15)
    assert schema(id=2**62, level=-(2**15)).label == "g"
    assert schema.model_fields["level"].description == "fill level"
    with pytest.raises(ValidationError):
        schema(id=1, level=1, label="toolong")
    assert schema(id=1, level=1, ratio=0.5).ratio == 0.5


def test_enum_uuid_date_json_and_datetime_columns_map_to_their_types():
    schema = schema_for(Note)
    note = schema(title="t", color="blue", token=str(uuid.UUID(int=5)), due="2024-01-31",
                  meta={"a": [1, 2]}, seen_at="2024-01-01T00:00:00Z")  # fmt: skip
    assert note.color is Color.BLUE and note.token == uuid.UUID(int=5)
    assert note.due == date(2024, 1, 31) and isinstance(note.seen_at, datetime)
    assert note.meta == {"a": [1, 2]}
    with pytest.raises(ValidationError):
        schema(title="t", color="green")
    with pytest.raises(ValidationError):
        schema(title="t", token="not-a-uuid")


async def test_a_schema_validates_an_entity_from_its_attributes(database):
    async with ShopUoW(database) as uow:
        product = await uow.products.create(sku="A", name="a", price=Decimal("2.50"))
    read = schema_for(Product).model_validate(product)
    assert read.id == product.id and read.price == Decimal("2.50")
    assert read.created_at == product.created_at
    assert read.model_dump()["sku"] == "A"


def test_optional_makes_every_field_optional_for_patch_bodies():
    patch = schema_for(Product, optional=True, exclude=["id"])
    assert patch.__name__ == "ProductPatchSchema"
    assert not any(f.is_required() for f in patch.model_fields.values())
    body = patch(price="3.10")
    assert body.model_dump(exclude_unset=True) == {"price": Decimal("3.10")}
    assert patch().model_dump(exclude_unset=True) == {}
    with pytest.raises(ValidationError):
        patch(sku="x" * 51)  # constraints still apply
    with pytest.raises(ValidationError):
        patch(name=None)  # a NOT NULL column still rejects an explicit null
    assert patch(category=None).category is None


def test_an_optional_schema_documents_null_only_where_the_column_takes_it():
    properties = schema_for(Product, optional=True, exclude=["id"]).model_json_schema()[
        "properties"
    ]
    assert properties["name"]["type"] == "string"
    assert "default" not in properties["name"] and "anyOf" not in properties["name"]
    assert {"type": "null"} in properties["category"]["anyOf"]


def test_name_include_and_exclude():
    schema = schema_for(Product, name="ProductOut", include=["id", "name"])
    assert schema.__name__ == "ProductOut" and set(schema.model_fields) == {"id", "name"}
    assert schema_for(Product, include="sku").model_fields.keys() == {"sku"}
    assert schema_for(Product, name="ProductOut", include=["id", "name"]) is schema


@pytest.mark.parametrize(
    "kwargs",
    [{"include": ["nope"]}, {"exclude": ["nope"]}, {"name": "not an identifier"}],
)
def test_bad_arguments_are_invalid_queries(kwargs):
    with pytest.raises(InvalidQueryError):
        schema_for(Product, **kwargs)


def test_a_non_model_is_rejected():
    with pytest.raises(InvalidQueryError):
        schema_for(dict)
