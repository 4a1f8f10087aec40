"""The read side: the one place scoped criteria are built, and the SELECTs built on them.

`model_scope` is what a model's rows must meet to be seen at all (today: the
soft-delete scope). `scope_criteria` applies it to a repository's own statements
(every read, count, lock and write by condition); `related_criteria` applies it to
the related rows that relationship lookups, `load=` and `count_related` reach. A
rule that must hold for every statement goes into `model_scope`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from orm_core.errors import InvalidQueryError
from orm_core.fields import ModelInfo, model_info
from orm_core.lookups import LookupContext, RelatedCriteria, build_filters
from orm_core.ordering import build_order_by
from orm_core.tenancy import criterion, required
from orm_repositories._target import Scope, Target


def model_scope(info: ModelInfo, scope: Scope, tenant: Any) -> list[ColumnElement[bool]]:
    """Conditions a model's rows must meet to be seen in `scope` by the unit's tenant.

    Raises:
        TenantRequiredError: a tenant model, and no tenant.
    """
    found: list[ColumnElement[bool]] = []
    if info.tenant is not None:
        rule = criterion(info.tenant.attribute, required(tenant, info.model))
        if rule is not None:
            found.append(rule)
    column = info.soft_delete
    if column is not None and scope != "all":
        attribute = column.attribute
        found.append(attribute.is_(None) if scope == "active" else attribute.is_not(None))
    return found


def scope_criteria(target: Target) -> list[ColumnElement[bool]]:
    """Conditions every statement of this repository carries."""
    return model_scope(target.info, target.scope, target.tenant)


def related_criteria(target: Target) -> RelatedCriteria:
    """Conditions related rows must meet to count for lookups and loads."""
    return lambda model: model_scope(model_info(model), "active", target.tenant)


def lookup_context(target: Target) -> LookupContext:
    """How this repository's lookups scope related rows and bind value lists."""
    backend = target.backend
    return LookupContext(
        related=related_criteria(target), value_in=backend.value_in, json=backend.json
    )


def conditions(
    target: Target, where: Sequence[Any] = (), lookups: Mapping[str, Any] | None = None
) -> list[ColumnElement[bool]]:
    """The caller's SQL expressions and lookups, checked against the model."""
    found = list(where)
    if lookups:
        found.extend(build_filters(target.model, lookups, lookup_context(target)))
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


def ordered(
    target: Target, statement: Select[Any], order_by: Any, *, tiebreak: bool = True
) -> Select[Any]:
    """`statement` ordered by `order_by`, the primary key appended so pages never overlap."""
    ordering = build_order_by(target.model, order_by)
    if tiebreak:
        named = {str(getattr(t, "element", t)) for t in ordering.terms}
        for field in target.info.primary_key:
            if str(field.attribute.expression) not in named:
                ordering.terms.append(field.attribute.asc())
    return ordering.apply(statement)
