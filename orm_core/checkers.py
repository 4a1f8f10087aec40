"""Value checks per column type, built once per column.

A checker takes a Python value and returns it (normalised where that is
unambiguous: a UUID string, an enum name) or raises `InvalidQueryError`.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import BigInteger, Column, Enum, Integer, Numeric, SmallInteger, String
from sqlalchemy.types import TypeDecorator, TypeEngine

from orm_core.errors import InvalidQueryError

Checker = Callable[[Any], Any]
ColumnChecker = Callable[[list[Any]], list[Any]]

_INT_RANGES: list[tuple[type[TypeEngine[Any]], int]] = [
    (SmallInteger, 2**15),
    (BigInteger, 2**63),
    (Integer, 2**31),
]


def int_limit(type_: TypeEngine[Any]) -> int:
    """Return the exclusive magnitude bound of an integer column type."""
    return next((n for t, n in _INT_RANGES if isinstance(type_, t)), 2**63)


def impl_type(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    while isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    return type_


@dataclass(frozen=True, slots=True)
class OutOfRange:
    """A lookup value its column can never hold: beyond its largest (`above`) or smallest value.

    Reads are not validation: a comparison with such a value is decided without the
    database (`eq` matches nothing, `lt` everything that is not NULL, ...).
    """

    above: bool


def checker_for(
    column: Column[Any], py_type: type | None, key: str, *, reading: bool = False
) -> Checker:
    """Build the check of one column's values: for storing, or (`reading`) for comparing.

    A value to be stored must fit the column; a value to compare with only needs the
    right type (text longer than the column matches nothing, an integer beyond its
    range becomes an `OutOfRange`). NUL characters are refused either way, since
    PostgreSQL cannot take them in text.
    """
    type_ = impl_type(column.type)

    def fail(value: Any, why: str) -> InvalidQueryError:
        return InvalidQueryError(
            f"invalid value for {key!r}: {why}",
            {"field": key, "value_type": type(value).__name__},
        )

    if py_type is bool:

        def check_bool(value: Any) -> Any:
            if not isinstance(value, bool):
                raise fail(value, "expected a boolean")
            return value

        return check_bool
    if py_type is int:
        limit = int_limit(type_)

        def check_int(value: Any) -> Any:
            if type(value) is int and -limit <= value < limit:
                return value
            if isinstance(value, bool) or not isinstance(value, int):
                raise fail(value, "expected an integer")
            if not -limit <= value < limit:
                if reading:
                    return OutOfRange(above=value > 0)
                raise fail(value, "integer out of range for the column")
            return value

        return check_int
    if py_type in (Decimal, float):
        precision = getattr(type_, "precision", None)
        scale = getattr(type_, "scale", None)
        bound = (
            Decimal(10) ** (precision - scale)
            if isinstance(type_, Numeric) and precision is not None and scale is not None
            else None
        )

        def check_number(value: Any) -> Any:
            if (
                type(value) is Decimal
                and value.is_finite()
                and (bound is None or abs(value) < bound)
            ):
                return value
            if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
                raise fail(value, "expected a number")
            try:
                number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
            except InvalidOperation as exc:
                raise fail(value, "not a number") from exc
            if not number.is_finite():
                raise fail(value, "expected a finite number")
            if bound is not None and abs(number) >= bound:
                if reading:
                    return OutOfRange(above=number > 0)
                raise fail(value, f"out of range for NUMERIC({precision}, {scale})")
            return value

        return check_number
    if py_type is str:
        length = getattr(type_, "length", None) if isinstance(type_, String) else None
        if reading:
            length = None

        def check_str(value: Any) -> Any:
            if type(value) is str and (length is None or len(value) <= length):
                if "\x00" in value:
                    raise fail(value, "text cannot hold a NUL character")
                return value
            if not isinstance(value, str):
                raise fail(value, "expected a string")
            if length is not None and len(value) > length:
                raise fail(value, f"longer than {length} characters")
            if "\x00" in value:
                raise fail(value, "text cannot hold a NUL character")
            return value

        return check_str
    simple: dict[type, tuple[tuple[type, ...], str]] = {
        datetime: ((datetime,), "expected a datetime"),
        time: ((time,), "expected a time"),
        timedelta: ((timedelta,), "expected a timedelta"),
        bytes: ((bytes, bytearray, memoryview), "expected bytes"),
    }
    if py_type is date:

        def check_date(value: Any) -> Any:
            if not isinstance(value, date) or isinstance(value, datetime):
                raise fail(value, "expected a date")
            return value

        return check_date
    if py_type is not None and py_type in simple:
        accepted, message = simple[py_type]

        def check_instance(value: Any) -> Any:
            if not isinstance(value, accepted):
                raise fail(value, message)
            return value

        return check_instance
    if py_type is uuid.UUID:

        def check_uuid(value: Any) -> Any:
            if isinstance(value, uuid.UUID):
                return value
            if isinstance(value, str):
                try:
                    return uuid.UUID(value)
                except ValueError as exc:
                    raise fail(value, "not a valid UUID") from exc
            raise fail(value, "expected a UUID")

        return check_uuid
    if isinstance(py_type, type) and issubclass(py_type, enum.Enum):
        enum_type = py_type

        def check_enum(value: Any) -> Any:
            if isinstance(value, enum_type):
                return value
            for member in enum_type:
                if value == member.value or value == member.name:
                    return member
            raise fail(value, f"expected one of {[m.name for m in enum_type]}")

        return check_enum
    return _accept


def _accept(value: Any) -> Any:
    return value


def column_checker(
    store: Checker, type_: TypeEngine[Any], *, plain: bool, scale: int | None = None
) -> ColumnChecker:
    """Build the check of a whole column of values to be stored (bulk writes).

    Text and integers of exactly their type are checked a column at a time, in a few
    passes the interpreter runs in C (types, lengths, NUL characters, range); anything
    else, and every value of a `plain=False` column (declared rules), goes through
    `store` one value at a time. Decimals of a column with a `scale` are rounded to it
    half away from zero, as `store` does. Either way the result is what `store` gives.
    """

    def per_value(values: list[Any]) -> list[Any]:
        return list(map(store, values))

    type_ = impl_type(type_)
    if not plain:
        return per_value
    if isinstance(type_, String) and not isinstance(type_, Enum):
        length = type_.length

        def check_texts(values: list[Any]) -> list[Any]:
            if (
                values
                and set(map(type, values)) == {str}
                and (length is None or max(map(len, values)) <= length)
                and "\x00" not in "".join(values)
            ):
                return values
            return per_value(values)

        return check_texts
    if scale is not None and isinstance(type_, Numeric):
        quantum = Decimal(1).scaleb(-scale)
        precision = type_.precision
        bound = Decimal(10) ** (precision - scale) if precision is not None else None

        def check_decimals(values: list[Any]) -> list[Any]:
            if not values or set(map(type, values)) != {Decimal}:
                return per_value(values)
            if not all(map(Decimal.is_finite, values)):
                return per_value(values)
            rounded = [v.quantize(quantum, rounding=ROUND_HALF_UP) for v in values]
            if bound is None or -bound < min(rounded) <= max(rounded) < bound:
                return rounded
            return per_value(values)

        return check_decimals
    if scale is not None:
        return per_value
    if isinstance(type_, Integer):
        limit = int_limit(type_)

        def check_ints(values: list[Any]) -> list[Any]:
            if (
                values
                and set(map(type, values)) == {int}
                and -limit <= min(values) <= max(values) < limit
            ):
                return values
            return per_value(values)

        return check_ints
    return per_value
