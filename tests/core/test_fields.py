from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import BigInteger, Float, LargeBinary, SmallInteger, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from orm_core import InvalidQueryError
from orm_core.fields import check_value, is_sql, model_info, quantized, storable_value
from tests.models import Color, Membership, Note, Product


class Plain(DeclarativeBase):
    pass


class Everything(Plain):
    __tablename__ = "everything"

    id: Mapped[int] = mapped_column(primary_key=True)
    small: Mapped[int] = mapped_column(SmallInteger)
    big: Mapped[int] = mapped_column(BigInteger)
    ratio: Mapped[float] = mapped_column(Float)
    flag: Mapped[bool]
    at: Mapped[time]
    span: Mapped[timedelta]
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    label: Mapped[str | None] = mapped_column(String(3))


def field(model, name):
    return model_info(model).fields[name]


def test_model_info_lists_fields_and_primary_keys():
    info = model_info(Product)
    assert info.table_name == "products"
    assert [f.key for f in info.primary_key] == ["id"]
    assert [f.key for f in model_info(Membership).primary_key] == ["group_id", "user_id"]
    assert info.fields["sku"].is_string and not info.fields["price"].is_string
    assert info.fields["price"].scale == 2 and info.fields["stock"].scale is None
    assert model_info(Note).fields["meta"].is_json and not info.fields["name"].is_json
    assert model_info(Product) is info


def test_model_info_rejects_what_is_not_a_model():
    with pytest.raises(InvalidQueryError):
        model_info(int)


def test_unknown_fields_name_the_allowed_ones():
    with pytest.raises(InvalidQueryError) as info:
        model_info(Product).field("colour")
    assert info.value.details["field"] == "colour" and "sku" in info.value.details["allowed"]


@pytest.mark.parametrize(
    ("model", "name", "good", "bad"),
    [
        (Product, "stock", [0, -(2**31), 2**31 - 1], [2**31, -(2**31) - 1, True, 1.0, "1"]),
        (Everything, "small", [2**15 - 1, -(2**15)], [2**15, -(2**15) - 1]),
        (Everything, "big", [2**63 - 1, -(2**63)], [2**63]),
        (
            Product,
            "price",
            [1, 1.5, Decimal("9999999999.99")],
            [Decimal("1e10"), "1", True, float("inf"), Decimal("NaN")],
        ),
        (Everything, "ratio", [1, 1.5], ["1.5", True]),
        (Everything, "flag", [True, False], [1, 0, "true"]),
        (Product, "sku", ["x" * 50], ["x" * 51, 1, b"x"]),
        (Note, "due", [date(2024, 1, 1)], [datetime(2024, 1, 1, tzinfo=UTC), "2024-01-01"]),
        (Note, "seen_at", [datetime(2024, 1, 1, tzinfo=UTC)], [date(2024, 1, 1), "now"]),
        (Everything, "at", [time(1, 2)], ["01:02"]),
        (Everything, "span", [timedelta(1)], [1]),
        (Everything, "blob", [b"x", bytearray(b"x")], ["x"]),
        (Note, "token", [uuid.uuid4(), str(uuid.uuid4())], ["not-a-uuid", 5]),
        (Note, "color", [Color.RED, "RED", "red"], ["GREEN", 1]),
    ],
)
def test_values_are_checked_against_the_column_type(model, name, good, bad):
    target = field(model, name)
    for value in good:
        check_value(target, value)
    for value in bad:
        with pytest.raises(InvalidQueryError) as info:
            check_value(target, value)
        assert info.value.details["field"] == name


def test_checks_normalise_uuid_strings_and_enum_names_or_values():
    token = uuid.uuid4()
    assert check_value(field(Note, "token"), str(token)) == token
    assert check_value(field(Note, "color"), "blue") is Color.BLUE
    assert check_value(field(Note, "color"), "BLUE") is Color.BLUE


def test_none_and_sql_expressions_pass_lookup_checks():
    assert check_value(field(Product, "stock"), None) is None
    expression = Product.stock + 1
    assert is_sql(expression) and check_value(field(Product, "stock"), expression) is expression
    assert not is_sql(5)


def test_storable_values_round_decimals_half_away_from_zero():
    price = field(Product, "price")
    assert storable_value(price, Decimal("9.995")) == Decimal("10.00")
    assert storable_value(price, Decimal("-9.995")) == Decimal("-10.00")
    assert storable_value(price, 2.675) == Decimal("2.68")
    assert storable_value(price, 3) == Decimal("3.00")
    assert str(quantized(price, Decimal("1.5"))) == "1.50"
    assert quantized(field(Product, "stock"), 3) == 3
    with pytest.raises(InvalidQueryError):
        storable_value(price, Decimal("9999999999.995"))


def test_storable_values_reject_none_for_required_columns():
    with pytest.raises(InvalidQueryError):
        storable_value(field(Product, "name"), None)
    assert storable_value(field(Product, "category"), None) is None
    assert storable_value(field(Product, "id"), None) is None


# -- whole columns (bulk writes) ---------------------------------------------------------

COLUMN_CASES = [
    (Everything, "label", ["a", "bc", None, "xyz"], ["a", "toolong"]),
    (Everything, "label", ["ok", "yes"], ["ok", "nul\x00"]),
    (Everything, "small", [1, -(2**15), 2**15 - 1], [1, 2**15]),
    (Everything, "small", [3, 4], [3, True]),
    (Everything, "big", [2**62, -(2**63)], [1, "2"]),
    (
        Product,
        "price",
        [Decimal("1.005"), Decimal("-2.345"), 7, 1.5],
        [Decimal("1"), Decimal("NaN")],
    ),
    (Product, "price", [Decimal("9999999999.994")], [Decimal("9999999999.995")]),
    (Note, "color", [Color.RED, "BLUE", "blue"], [Color.RED, "green"]),
]


@pytest.mark.parametrize(("model", "name", "good", "bad"), COLUMN_CASES)
def test_a_column_is_checked_as_its_values_one_by_one(model, name, good, bad):
    info = field(model, name)
    assert info.store_column(list(good)) == [info.store(v) for v in good]
    with pytest.raises(InvalidQueryError) as column_error:
        info.store_column(list(bad))
    with pytest.raises(InvalidQueryError) as value_error:
        for value in bad:
            info.store(value)
    assert column_error.value.message == value_error.value.message


def test_a_column_of_decimals_is_rounded_half_away_from_zero():
    price = field(Product, "price")
    rounded = price.store_column([Decimal("2.345"), Decimal("-2.345"), Decimal("0.004")])
    assert rounded == [Decimal("2.35"), Decimal("-2.35"), Decimal("0.00")]
    assert [r.as_tuple().exponent for r in rounded] == [-2, -2, -2]
