"""Atomic counters: `increment` and `decrement` with optional bounds, one UPDATE each.

`UPDATE t SET n = n + :amount WHERE id = :id [AND n + :amount <= :bound] RETURNING *`
reads and writes in one statement under the row lock the UPDATE takes, so
concurrent callers never lose an update and a bound is never crossed. The
statement comes from the one UPDATE builder and is cached per shape, with every
value (the managed `updated_at` included) bound per call.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import String, bindparam

from orm_core.errors import InvalidQueryError
from orm_core.fields import FieldInfo, check_value, is_sql
from orm_core.tenancy import ALL_TENANTS, required
from orm_repositories._keys import matches_nothing, pk_value
from orm_repositories._managed import managed_values
from orm_repositories._target import Target
from orm_repositories._update import SYNCED, run_update_one, update_statement

_NUMERIC_TYPES: tuple[type, ...] = (int, float, Decimal)
_STATEMENTS: dict[tuple[Any, ...], tuple[Any, tuple[str, ...]]] = {}
_TENANT_PARAM = "orm_tenant"


def _one_tenant(target: Target) -> bool:
    """Whether the target's statements are scoped to one tenant (a tenant model and unit)."""
    return target.info.tenant is not None and target.tenant not in (None, ALL_TENANTS)


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
    statement, bound_managed = _statement(target, field, sign, bound is not None, touch)
    if _one_tenant(target):
        params[_TENANT_PARAM] = required(target.tenant, target.model)
    managed = managed_values(target.info, {field.key}, touch=touch)
    params.update({f"set_{k}": managed[k] for k in bound_managed})
    pk = target.info.primary_key
    idents = ident if len(pk) > 1 else (ident,)
    params.update({f"pk_{f.key}": v for f, v in zip(pk, idents, strict=True)})
    def asked() -> dict[str, Any]:  # for the write events: built only when one listens
        return {field.key: field.attribute + amount if sign > 0 else field.attribute - amount}

    return await run_update_one(target, statement, params, ident, asked)


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


def _statement(
    target: Target, field: FieldInfo, sign: int, bounded: bool, touch: bool
) -> tuple[Any, tuple[str, ...]]:
    """Build (once per shape) the UPDATE, with a bound parameter for every value."""
    # one tenant's statement holds the tenant as a parameter, so every tenant shares it
    one_tenant = _one_tenant(target)
    tenancy = "one" if one_tenant else target.tenant is ALL_TENANTS
    key = (
        target.model,
        target.scope,
        field.key,
        sign,
        bounded,
        touch,
        target.backend.name,
        tenancy,
    )
    cached = _STATEMENTS.get(key)
    if cached is not None:
        return cached
    if one_tenant:
        target = replace(target, tenant=bindparam(_TENANT_PARAM, type_=String()))
    column = field.attribute
    amount = bindparam("amount", type_=field.column.type)
    new_value = column + amount if sign > 0 else column - amount
    conditions = [
        f.attribute == bindparam(f"pk_{f.key}", type_=f.column.type)
        for f in target.info.primary_key
    ]
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
    managed = managed_values(target.info, {field.key}, touch=touch)
    bound_keys = tuple(k for k, v in managed.items() if not is_sql(v))
    fields = target.info.fields
    for k in bound_keys:
        managed[k] = bindparam(f"set_{k}", type_=fields[k].column.type)
    statement = update_statement(
        target, conditions, {field.key: new_value}, managed=managed, returning=True
    )
    cached = _STATEMENTS[key] = (statement.execution_options(**SYNCED), bound_keys)
    return cached


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
