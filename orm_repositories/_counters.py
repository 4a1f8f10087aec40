"""Atomic counters: `increment` and `decrement` with optional bounds, one UPDATE each.

`UPDATE t SET n = n + :amount WHERE id = :id [AND n + :amount <= :bound] RETURNING *`
reads and writes in one statement under the row lock the UPDATE takes, so
concurrent callers never lose an update and a bound is never crossed. The
statement comes from the one UPDATE builder and is cached per shape, with every
value (the managed `updated_at` included) bound per call (`_prepared`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam

from orm_core.errors import InvalidQueryError
from orm_core.fields import FieldInfo, check_value
from orm_repositories._keys import matches_nothing, pk_value
from orm_repositories._prepared import Prepared, parameters, prepared
from orm_repositories._target import Target
from orm_repositories._update import run_update_one

_NUMERIC_TYPES: tuple[type, ...] = (int, float, Decimal)


async def add_to(
    target: Target, id: Any, name: Any, amount: Any, *, bound: Any, sign: int, touch: bool
) -> Any:
    """Add `sign * amount` to a numeric field of one row; its new state, or None."""
    ident = pk_value(target.info, id)
    field = counter_field(target, name)
    amount = _checked_number(field, "amount", amount)
    if amount < 0:
        raise InvalidQueryError(
            f"amount must not be negative; use {'decrement' if sign > 0 else 'increment'}",
            {"field": field.key, "amount": amount},
        )
    params: dict[str, Any] = {"amount": amount}
    declared = _declared_bound(field, sign)
    if declared is not None:
        params["declared"] = declared[0]
    if bound is not None:
        params["bound"] = _checked_number(field, "max_value" if sign > 0 else "min_value", bound)
    if matches_nothing(ident):
        return None
    statement = _statement(target, field, sign, bound is not None, touch)
    params.update(parameters(target, statement, ident, [field.key], touch=touch))

    def asked() -> dict[str, Any]:  # for the write events: built only when one listens
        return {field.key: field.attribute + amount if sign > 0 else field.attribute - amount}

    return await run_update_one(target, statement.statement, params, ident, asked)


def counter_field(target: Target, name: Any) -> FieldInfo:
    """The numeric, non-key, non-version field a counter may change.

    Raises:
        InvalidQueryError: anything else.
    """
    if not isinstance(name, str):
        raise InvalidQueryError(f"field must be a field name, not {name!r}")
    info = target.info
    field = info.field(name)
    numeric = field.python_type in _NUMERIC_TYPES and field.python_type is not bool
    if not numeric or field.primary_key or field is info.version:
        raise InvalidQueryError(
            f"{name!r} is not a numeric field that can be incremented",
            {"field": name, "model": target.model.__name__},
        )
    return field


def _statement(target: Target, field: FieldInfo, sign: int, bounded: bool, touch: bool) -> Prepared:
    """The prepared UPDATE of this counter's shape, its amount and bounds bound per call."""

    def build(target: Target) -> tuple[list[Any], dict[str, Any]]:
        column = field.attribute
        amount = bindparam("amount", type_=field.column.type)
        new_value = column + amount if sign > 0 else column - amount
        conditions = []
        if bounded:
            limit = bindparam("bound", type_=field.column.type)
            conditions.append(new_value <= limit if sign > 0 else new_value >= limit)
        declared = _declared_bound(field, sign)
        if declared is not None:
            # a declared bound is a limit like max_value/min_value: crossing it matches no row
            limit = bindparam("declared", type_=field.column.type)
            inclusive = declared[1]
            if sign > 0:
                conditions.append(new_value <= limit if inclusive else new_value < limit)
            else:
                conditions.append(new_value >= limit if inclusive else new_value > limit)
        return conditions, {field.key: new_value}

    shape = ("counter", field.key, sign, bounded)
    return prepared(target, shape, [field.key], build, touch=touch)


def _declared_bound(field: FieldInfo, sign: int) -> tuple[Any, bool] | None:
    """The declared bound an increment (upper) or a decrement (lower) must respect."""
    if field.declared is None:
        return None
    return field.declared.upper() if sign > 0 else field.declared.lower()


def _checked_number(field: FieldInfo, what: str, value: Any) -> Any:
    """Check that `value` is a plain number the field accepts (ints for integer fields)."""
    if isinstance(value, bool) or not isinstance(value, _NUMERIC_TYPES):
        raise InvalidQueryError(
            f"{what} must be a number, not {type(value).__name__}",
            {"field": field.key, what: repr(value)},
        )
    try:
        return check_value(field, value)
    except InvalidQueryError as exc:
        message = f"invalid {what} for {field.key!r}: {exc.message}"
        raise InvalidQueryError(message, exc.details) from exc
