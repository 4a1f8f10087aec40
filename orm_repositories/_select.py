"""The read side: the one place scoped criteria are built, and the SELECTs built on them.

`scope_criteria` is what every read, count, lock and write by condition adds to its
WHERE clause (today: the soft-delete scope); `criteria` adds the caller's
expressions and lookups to it. A rule that must hold for every statement of a
repository goes into `scope_criteria`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from orm_core.errors import InvalidQueryError
from orm_core.lookups import build_filters, build_order_by
from orm_repositories._target import Target


def scope_criteria(target: Target) -> list[ColumnElement[bool]]:
    """Conditions every statement of this repository carries (the soft-delete scope)."""
    column = target.info.soft_delete
    if column is None or target.scope == "all":
        return []
    attribute = column.attribute
    return [attribute.is_(None) if target.scope == "active" else attribute.is_not(None)]


def conditions(
    target: Target, where: Sequence[Any] = (), lookups: Mapping[str, Any] | None = None
) -> list[ColumnElement[bool]]:
    """The caller's SQL expressions and lookups, checked against the model."""
    found = list(where)
    if lookups:
        found.extend(build_filters(target.model, lookups))
    return found


def criteria(
    target: Target, where: Sequence[Any] = (), lookups: Mapping[str, Any] | None = None
) -> list[ColumnElement[bool]]:
    """The scope criteria, then the caller's SQL expressions and lookups."""
    return [*scope_criteria(target), *conditions(target, where, lookups)]


def required_conditions(where: Sequence[Any], lookups: Mapping[str, Any], method: str) -> None:
    """Refuse a write by condition that names no condition.

    Raises:
        InvalidQueryError: no condition (pass `sqlalchemy.true()` to mean every row).
    """
    if not where and not lookups:
        raise InvalidQueryError(
            f"{method} needs at least one condition; pass sqlalchemy.true() to match all rows"
        )


def select_entities(
    target: Target, where: Sequence[Any] = (), lookups: Mapping[str, Any] | None = None
) -> Select[Any]:
    """`SELECT model WHERE <scoped criteria>`."""
    return select(target.model).where(*criteria(target, where, lookups))


def count_statement(target: Target, conditions: Sequence[Any]) -> Select[Any]:
    """`SELECT count(*) FROM model WHERE conditions`."""
    return select(func.count()).select_from(target.model).where(*conditions)


def ordering(target: Target, order_by: Any) -> list[Any]:
    """ORDER BY terms with the primary key appended, so pages never overlap."""
    terms = build_order_by(target.model, order_by)
    named = {str(getattr(t, "element", t)) for t in terms}
    for field in target.info.primary_key:
        if str(field.attribute.expression) not in named:
            terms.append(field.attribute.asc())
    return terms
