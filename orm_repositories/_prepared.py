"""One-row UPDATEs built once per shape, with every value bound per call.

Building an `UPDATE … RETURNING` through the one UPDATE builder, and SQLAlchemy's
cache key for it, costs more CPU than the database spends running it; under
contention that CPU is paid while other callers wait for the row. Statements of a
fixed shape (counters, `update`, `update_if` with plain comparisons, optimistic and
soft-delete updates) are therefore built once, with the key, the tenant, the values,
the compared values and the managed values (`updated_at`) as bind parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import String, bindparam

from orm_core.fields import is_sql
from orm_core.lookups import Comparison
from orm_core.tenancy import ALL_TENANTS, required
from orm_repositories._managed import managed_values
from orm_repositories._target import Target
from orm_repositories._update_statement import SYNCED, update_statement

_LIMIT = 2_000  # shapes kept; the oldest goes first (shapes come from code, rarely more)
_TENANT_PARAM = "orm_tenant"

Build = Callable[[Target], tuple[list[Any], dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A cached statement and the managed fields whose values it binds per call."""

    statement: Any
    managed: tuple[str, ...]


_STATEMENTS: dict[tuple[Any, ...], Prepared] = {}


def one_tenant(target: Target) -> bool:
    """Whether the target's statements are scoped to one tenant (a tenant model and unit)."""
    return target.info.tenant is not None and target.tenant not in (None, ALL_TENANTS)


def prepared(
    target: Target, shape: tuple[Any, ...], written: Sequence[str], build: Build, *, touch: bool
) -> Prepared:
    """The statement of this shape: `build(target)` gives its conditions besides the key
    and the values it sets, made of bind parameters; `written` names the fields they set.
    """
    # one tenant's statement holds the tenant as a parameter, so every tenant shares it
    single = one_tenant(target)
    tenancy = "one" if single else target.tenant is ALL_TENANTS
    key = (target.model, target.scope, target.backend.name, tenancy, touch, shape)
    cached = _STATEMENTS.get(key)
    if cached is not None:
        return cached
    if single:
        target = replace(target, tenant=bindparam(_TENANT_PARAM, type_=String()))
    conditions, values = build(target)
    info = target.info
    where = [f.attribute == bindparam(f"pk_{f.key}", type_=f.column.type) for f in info.primary_key]
    managed = managed_values(info, written, touch=touch)
    bound = tuple(k for k, v in managed.items() if not is_sql(v))
    for k in bound:
        managed[k] = bindparam(f"set_{k}", type_=info.fields[k].column.type)
    statement = update_statement(
        target, [*where, *conditions], values, managed=managed, returning=True
    )
    if len(_STATEMENTS) >= _LIMIT:
        del _STATEMENTS[next(iter(_STATEMENTS))]
    cached = _STATEMENTS[key] = Prepared(statement.execution_options(**SYNCED), bound)
    return cached


def parameters(
    target: Target, statement: Prepared, ident: Any, written: Sequence[str], *, touch: bool
) -> dict[str, Any]:
    """The per-call parameters every prepared statement takes: key, tenant, managed values."""
    pk = target.info.primary_key
    idents = ident if len(pk) > 1 else (ident,)
    params = {f"pk_{f.key}": v for f, v in zip(pk, idents, strict=True)}
    if one_tenant(target):
        params[_TENANT_PARAM] = required(target.tenant, target.model)
    if statement.managed:
        managed = managed_values(target.info, written, touch=touch)
        params.update({f"set_{k}": managed[k] for k in statement.managed})
    return params


def set_and_compare(
    target: Target, values: Mapping[str, Any], compared: Sequence[Comparison]
) -> tuple[Prepared, dict[str, Any]] | None:
    """The prepared UPDATE setting plain `values` where the row passes `compared`, with
    its value parameters; None when a value is a SQL expression (built per call then)."""
    if any(is_sql(v) for v in values.values()):
        return None
    names = tuple(values)
    shape = ("set", names, tuple(c.shape for c in compared))

    def build(target: Target) -> tuple[list[Any], dict[str, Any]]:
        fields = target.info.fields
        conditions = [
            c.condition(bindparam(f"c{i}", type_=c.field.column.type) if c.bound else None)
            for i, c in enumerate(compared)
        ]
        sets = {k: bindparam(f"v_{k}", type_=fields[k].column.type) for k in names}
        return conditions, sets

    statement = prepared(target, shape, names, build, touch=True)
    params = {f"v_{k}": v for k, v in values.items()}
    params.update({f"c{i}": c.value for i, c in enumerate(compared) if c.bound})
    return statement, params
