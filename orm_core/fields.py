"""Per-model field metadata and the one check every stored value passes, built once per model.

`model_info(Model)` describes each mapped column (`FieldInfo`): its type, its value
check for lookups (`check`), the check and normalisation a value to be stored passes
(`store`, the one slot every write path calls), and its Python-side defaults. Bad
input therefore fails with `InvalidQueryError` before any SQL is sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import JSON, Column, Enum, Integer, Numeric, String, Table, inspect
from sqlalchemy.orm import InstrumentedAttribute, Mapper, RelationshipProperty
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.types import TypeDecorator, TypeEngine

from orm_core.checkers import (
    Checker,
    ColumnChecker,
    checker_for,
    column_checker,
    impl_type,
    int_limit,
)
from orm_core.constraints import Declared
from orm_core.errors import InvalidQueryError
from orm_core.models import AuditMixin, SoftDeleteMixin, TenantMixin
from orm_core.types import utcnow

Producer = Callable[[], Any]

# how a column declared `info={"redact": True}` shows in audit rows and logged events
REDACTED = "***"


@dataclass(frozen=True, slots=True)
class Default:
    """A Python-side column default (or `onupdate`) the framework can compute itself.

    `per_statement` defaults (constants and the framework's own `utcnow`) take one
    value for every row a statement writes, as the database's `now()` does.
    """

    produce: Producer
    per_statement: bool


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """One mapped column: its attribute, table column, value checks and defaults."""

    key: str
    attribute: InstrumentedAttribute[Any]
    column: Column[Any]
    python_type: type | None
    check: Checker
    is_string: bool
    primary_key: bool
    is_json: bool = False
    scale: int | None = None
    store: Checker = field(default=lambda value: value, compare=False)
    # `store` over a whole column of values at once (bulk writes)
    store_column: ColumnChecker = field(default=lambda values: values, compare=False)
    compare: Checker = field(default=lambda value: value, compare=False)
    default: Default | None = None
    # False when an omitted value needs SQL to compute (a sequence, a SQL expression,
    # a default reading the execution context): only a real INSERT can fill it in
    python_default_only: bool = True
    onupdate: Default | None = None
    # an INSERT leaving the column out stores NULL: nothing computes a value for it
    null_when_omitted: bool = False
    declared: Declared | None = None
    # recorded as "***" in audit changes, never logged
    redact: bool = False


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """The fields, primary key, managed columns and relationships of a mapped class."""

    model: type
    table_name: str
    table: Table | None
    fields: dict[str, FieldInfo]
    primary_key: tuple[FieldInfo, ...]
    relationships: frozenset[str]
    version: FieldInfo | None
    soft_delete: FieldInfo | None
    tenant: FieldInfo | None = None
    audited: bool = False

    def field(self, name: str) -> FieldInfo:
        """Return the field called `name`; raise `InvalidQueryError` if there is none."""
        found = self.fields.get(name)
        if found is None:
            raise InvalidQueryError(
                f"unknown field {name!r} for {self.model.__name__}",
                {"model": self.model.__name__, "field": name, "allowed": sorted(self.fields)},
            )
        return found

    def single_table(self) -> Table:
        """The one table the model maps to; bulk and atomic statements need it.

        Raises:
            InvalidQueryError: the model maps to a join or a selectable.
        """
        if self.table is None:
            raise InvalidQueryError(f"{self.model.__name__} is not mapped to a single table")
        return self.table


_INFOS: dict[type, ModelInfo] = {}


def model_info(model: type) -> ModelInfo:
    """Return (and cache) the field metadata of a mapped class.

    Raises:
        InvalidQueryError: `model` is not a mapped class.
    """
    info = _INFOS.get(model)
    if info is None:
        info = _INFOS[model] = _build_info(model)
    return info


def redacted_fields(model: type) -> frozenset[str]:
    """The fields of `model` declared `info={"redact": True}` (none for an unmapped class)."""
    try:
        fields = model_info(model).fields
    except InvalidQueryError:
        return frozenset()
    return frozenset(key for key, field in fields.items() if field.redact)


def _build_info(model: type) -> ModelInfo:
    try:
        mapper: Mapper[Any] = inspect(model)
    except Exception as exc:
        raise InvalidQueryError(f"{model!r} is not a mapped SQLAlchemy model") from exc
    fields: dict[str, FieldInfo] = {}
    for prop in mapper.column_attrs:
        if len(prop.columns) != 1 or not isinstance(prop.columns[0], Column):
            continue
        fields[prop.key] = _field(model, prop.key, prop.columns[0])
    pk_keys = [mapper.get_property_by_column(c).key for c in mapper.primary_key]
    version = None
    if mapper.version_id_col is not None:
        version = fields[mapper.get_property_by_column(mapper.version_id_col).key]
    table = mapper.local_table
    deleted_at = fields.get("deleted_at")
    return ModelInfo(
        model=model,
        table_name=table.name,  # type: ignore[attr-defined]
        table=table if isinstance(table, Table) else None,
        fields=fields,
        primary_key=tuple(fields[k] for k in pk_keys),
        # `_props` rather than `relationships`: reading the latter configures every
        # mapper, which fails while forward references are still unresolved
        relationships=frozenset(
            key for key, prop in mapper._props.items() if isinstance(prop, RelationshipProperty)
        ),
        version=version,
        soft_delete=deleted_at if issubclass(model, SoftDeleteMixin) else None,
        tenant=fields.get("tenant_id") if issubclass(model, TenantMixin) else None,
        audited=issubclass(model, AuditMixin),
    )


def _field(model: type, key: str, column: Column[Any]) -> FieldInfo:
    py_type = _python_type(column.type)
    check = checker_for(column, py_type, key)
    scale = _decimal_scale(column.type)
    required = not column.nullable and not column.primary_key
    default, python_only = column_default(column.default)
    onupdate, _ = column_default(column.onupdate)
    declared = Declared.of(key, column.info)
    store = _storer(key, check, scale, required=required, column=column)
    if declared is not None:
        store = _declaring(store, declared)
    return FieldInfo(
        key=key,
        attribute=getattr(model, key),
        column=column,
        python_type=py_type,
        check=check,
        is_string=py_type is str,
        primary_key=column.primary_key,
        is_json=isinstance(impl_type(column.type), JSON),
        scale=scale,
        store=store,
        store_column=column_checker(store, column.type, plain=declared is None, scale=scale),
        compare=checker_for(column, py_type, key, reading=True),
        default=default,
        python_default_only=python_only,
        onupdate=onupdate,
        null_when_omitted=(
            column.default is None
            and column.server_default is None
            and column.computed is None
            and column.identity is None
            and not column.primary_key
        ),
        declared=declared,
        redact=bool(column.info.get("redact")),
    )


def column_default(default: Any) -> tuple[Default | None, bool]:
    """Describe a column's `default`/`onupdate`: (what Python can compute, whether that is all).

    The one place Python-side defaults are read: inserts fill omitted columns from it,
    and every UPDATE takes its managed values (`updated_at`) from it.
    """
    if default is None:
        return None, True
    if getattr(default, "is_scalar", False):
        value = default.arg
        return Default(lambda: value, per_statement=True), True
    function = getattr(getattr(default, "arg", None), "__wrapped__", None)
    if getattr(default, "is_callable", False) and callable(function):
        # SQLAlchemy wraps a default taking no context; one taking it has no __wrapped__
        return Default(function, per_statement=function is utcnow), True
    return None, False


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
    impl = impl_type(type_)
    if isinstance(impl, Numeric) and impl.asdecimal and isinstance(impl.scale, int):
        return impl.scale
    return None


def check_value(field: FieldInfo, value: Any) -> Any:
    """Check (and normalise) one value for `field`; SQL expressions and None pass through."""
    if value is None or is_sql(value):
        return value
    return field.check(value)


def compared_value(field: FieldInfo, value: Any) -> Any:
    """Check a value a lookup compares `field` with; `OutOfRange` when no row can hold it.

    Raises:
        InvalidQueryError: a value of the wrong type, or text holding a NUL character.
    """
    if value is None or is_sql(value):
        return value
    return field.compare(value)


def storable_value(field: FieldInfo, value: Any) -> Any:
    """Check a value about to be written; round decimals to the column's scale.

    PostgreSQL rounds half away from zero while SQLite would store a binary
    float; rounding here first makes both store (and hand back) the same value.
    """
    return field.store(value)


def quantized(field: FieldInfo, value: Any) -> Any:
    """Round a number to the scale of a decimal column; leave anything else alone."""
    if (
        field.scale is None
        or isinstance(value, bool)
        or not isinstance(value, int | float | Decimal)
    ):
        return value
    number = _as_decimal(value)
    if not number.is_finite():
        return value
    return _round(number, Decimal(1).scaleb(-field.scale))


def _as_decimal(value: int | float | Decimal) -> Decimal:
    # a float goes through its shortest repr, so 2.675 stays 2.675 and not 2.67499...
    return (
        value
        if type(value) is Decimal
        else Decimal(str(value) if isinstance(value, float) else value)
    )


def _round(number: Decimal, quantum: Decimal) -> Decimal:
    """Round half away from zero, as PostgreSQL does for NUMERIC."""
    return number.quantize(quantum, rounding=ROUND_HALF_UP)


def _declaring(store: Checker, declared: Declared) -> Checker:
    """`store`, then the rules the column declares (None passes; SQL only where CHECKs guard)."""

    def store_declared(value: Any) -> Any:
        value = store(value)
        if value is None:
            return None
        if type(value) not in _PLAIN_TYPES and is_sql(value):
            if declared.needs_python:
                raise declared.refuse_sql()
            return value
        return declared.check(value)

    return store_declared


# plain values that can never be SQL expressions: skip that probe on the hot path
_PLAIN_TYPES = frozenset({str, int, float, Decimal, bool, datetime, date, uuid.UUID, bytes})


def _storer(
    key: str, check: Checker, scale: int | None, *, required: bool, column: Column[Any]
) -> Checker:
    """Build the one-pass check used by every write path (bulk inserts call it per value).

    The common case (a plain value of exactly the column's type) is answered inline;
    anything else takes the general path.
    """
    quantum = Decimal(1).scaleb(-scale) if scale is not None else None

    def general(value: Any) -> Any:
        if value is None:
            if required:
                raise InvalidQueryError(f"{key!r} cannot be None", {"field": key})
            return None
        kind = type(value)
        if kind not in _PLAIN_TYPES and is_sql(value):
            return value
        value = check(value)
        if quantum is None or kind is bool:
            return value
        number = _as_decimal(value)
        rounded = _round(number, quantum)
        if rounded != number:
            check(rounded)  # rounding up may cross the column's bound
        return rounded

    type_ = impl_type(column.type)
    if isinstance(type_, String) and not isinstance(type_, Enum) and quantum is None:
        length = type_.length

        def store_str(value: Any) -> Any:
            if (
                type(value) is str
                and (length is None or len(value) <= length)
                and "\x00" not in value
            ):
                return value
            return general(value)

        return store_str
    if quantum is not None and isinstance(type_, Numeric):
        precision = type_.precision
        bound = Decimal(10) ** (precision - (scale or 0)) if precision is not None else None

        def store_decimal(value: Any) -> Any:
            if type(value) is Decimal and value.is_finite():
                rounded = _round(value, quantum)
                if bound is None or abs(rounded) < bound:
                    return rounded
            return general(value)

        return store_decimal
    if isinstance(type_, Integer):
        limit = int_limit(type_)

        def store_int(value: Any) -> Any:
            if type(value) is int and -limit <= value < limit:
                return value
            return general(value)

        return store_int
    return general
