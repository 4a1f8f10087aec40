"""The upsert statement: which fields conflict, which are updated, and how it is spelled.

`conflict_names` and `upsert_plan` check the caller's fields before any SQL;
`upsert_statement` asks the backend to spell the statement (`ON CONFLICT … DO UPDATE`,
`ON DUPLICATE KEY UPDATE`) over VALUES or over a row source such as column arrays, with
the managed values every UPDATE sets and, for a tenant model, a guard that never
touches another tenant's row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Index, UniqueConstraint

from orm_core.errors import InvalidQueryError
from orm_core.fields import FieldInfo, ModelInfo
from orm_core.tenancy import criterion, required
from orm_repositories._managed import managed_values
from orm_repositories._target import Target, names_list


def conflict_names(target: Target, conflict_fields: Any) -> list[str]:
    """Check that the conflict fields are exactly a primary key or a unique constraint.

    Raises:
        InvalidQueryError: unknown fields, or fields that are no unique key.
    """
    conflict = names_list(conflict_fields, "conflict_fields")
    info = target.info
    for name in conflict:
        info.field(name)
    table = target.table
    wanted = {info.fields[k].column.name for k in conflict}
    keys = [{c.name for c in table.primary_key.columns}]
    for item in (*table.constraints, *table.indexes):
        if isinstance(item, UniqueConstraint) or (isinstance(item, Index) and item.unique):
            keys.append({c.name for c in item.columns})
    if wanted not in keys:
        raise InvalidQueryError(
            f"conflict_fields {conflict} are not a primary key or unique constraint "
            f"of {target.model.__name__}",
            {"conflict_fields": conflict, "unique_keys": sorted(sorted(k) for k in keys)},
        )
    return conflict


def upsert_plan(
    target: Target, conflict_fields: Any, update_fields: Any, key_sets: Sequence[tuple[str, ...]]
) -> tuple[list[str], list[str] | None]:
    """Check conflict and update fields against the given key sets, before any SQL.

    Returns the conflict fields and the explicit update fields (None: every given one).
    """
    info = target.info
    conflict = conflict_names(target, conflict_fields)
    given = set().union(*key_sets)
    missing = [k for k in conflict if k not in given]
    if missing:
        raise InvalidQueryError(f"conflict fields need values: {missing}", {"missing": missing})
    chosen: list[str] | None = None
    pk = {f.key for f in info.primary_key}
    if update_fields is not None:
        chosen = names_list(update_fields, "update_fields", allow_empty=True)
        for name in chosen:
            info.field(name)
        changing_key = [k for k in chosen if k in pk and k not in conflict]
        if changing_key:
            raise InvalidQueryError(f"the primary key {changing_key} cannot be updated")
        absent = [k for k in chosen if k not in given]
        if absent:
            raise InvalidQueryError(
                f"update_fields must be among the given values: {absent}", {"missing": absent}
            )
    version = info.version
    if version is not None and version.key in (chosen if chosen is not None else given):
        raise InvalidQueryError(f"{version.key!r} is managed by optimistic locking; do not set it")
    return conflict, chosen


def updates_for(
    info: ModelInfo, keys: tuple[str, ...], conflict: list[str], chosen: list[str] | None
) -> list[str]:
    """The fields a row with `keys` updates: the chosen ones it carries, else all it carries.

    The primary key is never changed by the update path.
    """
    pk = {f.key for f in info.primary_key}
    names = keys if chosen is None else [k for k in chosen if k in keys]
    return [k for k in names if k not in conflict and k not in pk]


def upsert_statement(
    target: Target,
    into: Any,
    conflict: list[str],
    updates: list[str],
    *,
    source: tuple[Sequence[str], Any] | None = None,
) -> Any:
    """The upsert of rows given as VALUES, or selected from `source` (column keys, SELECT).

    Raises:
        InvalidQueryError: a conditional upsert (a tenant model) on a backend without one.
    """
    info = target.info
    backend = target.backend
    fields = info.fields
    conflict_columns = [fields[k].column for k in conflict]
    managed = managed_values(info, updates) if updates else {}
    insert = backend.upsert_insert(into)
    if source is not None:
        insert = insert.from_select(*source)
    if not updates:
        # nothing to change: leave the existing row alone, neither rewritten nor locked
        return backend.on_conflict_nothing(insert, conflict_columns)
    # never change or move another tenant's row
    where = None
    if info.tenant is not None:
        where = criterion(info.tenant.column, required(target.tenant, info.model))

    def assignments(proposed: Any) -> dict[Any, Any]:
        values: dict[Any, Any] = {fields[k].column: proposed[fields[k].column.key] for k in updates}
        for key, value in managed.items():
            field = fields[key]
            values[field.column] = _managed_assignment(field, value, proposed)
        return values

    return backend.on_conflict_update(insert, conflict_columns, assignments, where=where)


def _managed_assignment(field: FieldInfo, value: Any, proposed: Any) -> Any:
    """The SET term of a managed column in an upsert's update part.

    `updated_at` is in the proposed row too (its insert default is "now" as well):
    referring to it keeps bound values out of the update clause, so one compiled
    statement serves every row of an executemany.
    """
    default, onupdate = field.default, field.onupdate
    if default is not None and onupdate is not None and default.produce is onupdate.produce:
        return proposed[field.column.key]
    return value
