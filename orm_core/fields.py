"""Per-model field metadata and value checks, computed once per model.

Repositories check field names and value types here so that bad input fails
with `InvalidQueryError` before any SQL is sent.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Integer, Numeric, SmallInteger, String, inspect
from sqlalchemy.orm import InstrumentedAttribute, Mapper
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.types import TypeDecorator, TypeEngine

from orm_core.errors import InvalidQueryError

Checker = Callable[[Any], Any]

_INT_RANGES: list[tuple[type[TypeEngine[Any]], int]] = [
    (SmallInteger, 2**15),
    (BigInteger, 2**63),
    (Integer, 2**31),
]


@dataclass(frozen=True, slots=True)
class Field:
    """One mapped column: its attribute, its table column and its value check."""

    key: str
    attribute: InstrumentedAttribute[Any]
    column: Column[Any]
    python_type: type | None
    check: Checker
    is_string: bool
    primary_key: bool
    is_json: bool = False
    scale: int | None = None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """The fields, primary key and relationships of a mapped class."""

    model: type
    table_name: str
    fields: dict[str, Field]
    primary_key: tuple[Field, ...]
    relationships: frozenset[str]

    def field(self, name: str) -> Field:
        """Return the field called `name`; raise `InvalidQueryError` if there is none."""
        found = self.fields.get(name)
        if found is None:
            raise InvalidQueryError(
                f"unknown field {name!r} for {self.model.__name__}",
                {"model": self.model.__name__, "field": name, "allowed": sorted(self.fields)},
            )
        return found


_INFOS: dict[type, ModelInfo] = {}


def model_info(model: type) -> ModelInfo:
    """Return (and cache) the field metadata of a mapped class."""
    info = _INFOS.get(model)
    if info is None:
        info = _INFOS[model] = _build_info(model)
    return info


def _build_info(model: type) -> ModelInfo:
    try:
        mapper: Mapper[Any] = inspect(model)
    except Exception as exc:
        raise InvalidQueryError(f"{model!r} is not a mapped SQLAlchemy model") from exc
    fields: dict[str, Field] = {}
    for prop in mapper.column_attrs:
        if len(prop.columns) != 1 or not isinstance(prop.columns[0], Column):
            continue
        column = prop.columns[0]
        py_type = _python_type(column.type)
        fields[prop.key] = Field(
            key=prop.key,
            attribute=getattr(model, prop.key),
            column=column,
            python_type=py_type,
            check=_checker(column, py_type, prop.key),
            is_string=py_type is str,
            primary_key=column.primary_key,
            is_json=isinstance(_impl(column.type), JSON),
            scale=_decimal_scale(column.type),
        )
    pk_keys = [mapper.get_property_by_column(c).key for c in mapper.primary_key]
    return ModelInfo(
        model=model,
        table_name=mapper.local_table.name,  # type: ignore[attr-defined]
        fields=fields,
        primary_key=tuple(fields[k] for k in pk_keys),
        relationships=frozenset(mapper.relationships.keys()),
    )


def is_sql(value: Any) -> bool:
    """Tell whether `value` is a SQL expression rather than a plain value."""
    return isinstance(value, ClauseElement) or hasattr(value, "__clause_element__")


def _python_type(type_: TypeEngine[Any]) -> type | None:
    try:
        return type_.python_type
    except NotImplementedError:
        if isinstance(type_, TypeDecorator):
            return _python_type(type_.impl_instance)
        return None


def _decimal_scale(type_: TypeEngine[Any]) -> int | None:
    impl = _impl(type_)
    if isinstance(impl, Numeric) and impl.asdecimal and isinstance(impl.scale, int):
        return impl.scale
    return None


def _impl(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    while isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    return type_


def _checker(column: Column[Any], py_type: type | None, key: str) -> Checker:
    type_ = _impl(column.type)

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
        limit = next((n for t, n in _INT_RANGES if isinstance(type_, t)), 2**63)

        def check_int(value: Any) -> Any:
            if isinstance(value, bool) or not isinstance(value, int):
                raise fail(value, "expected an integer")
            if not -limit <= value < limit:
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
            if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
                raise fail(value, "expected a number")
            try:
                number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
            except InvalidOperation as exc:
                raise fail(value, "not a number") from exc
            if not number.is_finite():
                raise fail(value, "expected a finite number")
            if bound is not None and abs(number) >= bound:
                raise fail(value, f"out of range for NUMERIC({precision}, {scale})")
            return value

        return check_number
    if py_type is str:
        length = getattr(type_, "length", None) if isinstance(type_, String) else None

        def check_str(value: Any) -> Any:
            if not isinstance(value, str):
                raise fail(value, "expected a string")
            if length is not None and len(value) > length:
                raise fail(value, f"longer than {length} characters")
            return value

        return check_str
    simple: dict[type, tuple[tuple[type, ...], str]] = {
        datetime: ((datetime,), "expected a datetime"),
        date: ((date,), "expected a date"),
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


def check_value(field: Field, value: Any) -> Any:
    """Check (and normalise) one value for `field`; SQL expressions and None pass through."""
    if value is None or is_sql(value):
        return value
    return field.check(value)


def storable_value(field: Field, value: Any) -> Any:
    """Check a value about to be written; round decimals to the column's scale.

    PostgreSQL rounds half away from zero while SQLite would store a binary
    float; rounding here first makes both store (and hand back) the same value.
    """
    if value is None and not field.column.nullable and not field.primary_key:
        raise InvalidQueryError(f"{field.key!r} cannot be None", {"field": field.key})
    value = check_value(field, value)
    rounded = quantized(field, value)
    return value if rounded is value else field.check(rounded)


def quantized(field: Field, value: Any) -> Any:
    """Round a number to the scale of a decimal column; leave anything else alone."""
    if field.scale is None or isinstance(value, bool):
        return value
    if not isinstance(value, int | float | Decimal):
        return value
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        return value
    return number.quantize(Decimal(1).scaleb(-field.scale), rounding=ROUND_HALF_UP)
