"""The update path: one builder for every UPDATE the framework emits.

`update_statement` applies the scope criteria and the managed values (`updated_at`,
the version bump) and asks for RETURNING where the backend has it; `update_one`,
`update_where`, `bulk_update`, the counters, conditional and optimistic updates,
soft delete and restore all build their statement here. A rule every UPDATE must
follow goes into `update_statement`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, inspect, select, update
from sqlalchemy.sql.dml import Update

from orm_core.errors import (
    ConcurrentModificationError,
    InvalidQueryError,
    NotFoundError,
    OrmError,
)
from orm_core.translate import translating
from orm_core.types import utcnow
from orm_repositories._keys import chunks, pk_equals, pk_in, pk_value, sorted_keys
from orm_repositories._loading import with_load
from orm_repositories._managed import managed_values
from orm_repositories._reload import ensure_loaded, has_expired_columns, holds_key, reload_held
from orm_repositories._select import scope_criteria, select_entities
from orm_repositories._target import (
    Target,
    execute,
    execute_write,
    fetch_all,
    fetch_first,
    flush,
    write_connection,
)
from orm_repositories._values import check_values

SYNCED = {"populate_existing": True, "synchronize_session": False}


def update_statement(
    target: Target,
    conditions: Sequence[Any],
    values: Mapping[str, Any],
    *,
    touch: bool = True,
    managed: Mapping[str, Any] | None = None,
    core: bool = False,
    returning: bool = False,
) -> Update:
    """`UPDATE model SET values + managed values WHERE scope AND conditions [RETURNING *]`.

    `values` are keyed by field and may be SQL expressions or bind parameters;
    `managed` replaces the managed values (a cached statement binds them per call);
    `core` builds a Core UPDATE of the table, for executemany.
    """
    info = target.info
    extra = managed_values(info, values, touch=touch) if managed is None else managed
    assignments = {**values, **extra}
    where = [*scope_criteria(target), *conditions]
    if core:
        columns = {info.fields[k].column.key: v for k, v in assignments.items()}
        return update(target.table).where(*where).values(columns)
    attributes = {info.fields[k].attribute: v for k, v in assignments.items()}
    statement = update(target.model).where(*where).values(attributes)
    if returning and target.backend.update_returning:
        statement = statement.returning(target.model)
    return statement


async def run_update_one(target: Target, statement: Any, params: Any, ident: Any) -> Any:
    """Run an UPDATE of one row; return the row's new state (refreshing held copies) or None."""
    if target.backend.update_returning:
        return await fetch_first(target, statement, params, write=True)
    result = await execute_write(target, statement, params)
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    reread = select_entities(target).where(pk_equals(target.info, ident))
    return await fetch_first(target, reread.execution_options(populate_existing=True))


async def update_one(
    target: Target,
    ident: Any,
    values: Mapping[str, Any],
    conditions: Sequence[Any] = (),
    *,
    touch: bool = True,
) -> Any:
    """Update the row `ident` if it matches `conditions`; return its new state or None."""
    where = [pk_equals(target.info, ident), *conditions]
    statement = update_statement(target, where, values, touch=touch, returning=True)
    return await run_update_one(target, statement.execution_options(**SYNCED), None, ident)


async def update_where(target: Target, conditions: Sequence[Any], values: Mapping[str, Any]) -> int:
    """Update every row matching `conditions`; return the number of rows matched."""
    statement = update_statement(target, conditions, values)
    result = await execute_write(target, statement.execution_options(synchronize_session="fetch"))
    await reload_held(target, has_expired_columns(target))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def bulk_update(target: Target, rows: Iterable[Mapping[str, Any]]) -> int:
    """Update rows given with their primary key, each key set as one executemany; rows matched.

    A key given twice counts once (its values merged, the last winning). Rows are
    locked in key order first, so concurrent bulk updates never deadlock.
    """
    info = target.info
    pk_keys = [f.key for f in info.primary_key]
    by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        if not isinstance(row, Mapping):
            raise InvalidQueryError("bulk_update takes dicts of field values")
        missing = [k for k in pk_keys if k not in row]
        if missing:
            raise InvalidQueryError(f"bulk_update rows need their primary key {missing}")
        checked = check_values(info, row)
        by_key.setdefault(tuple(checked[k] for k in pk_keys), {}).update(checked)
    if not by_key:
        return 0
    await flush(target)
    idents = sorted_keys(by_key)
    keys = [i[0] for i in idents] if len(pk_keys) == 1 else idents
    matched = 0
    with translating():
        async with target.session.begin_nested():
            connection = await write_connection(target)
            for chunk in chunks(target, keys):
                matched += await _lock_existing(target, chunk)
            groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for row in by_key.values():
                groups.setdefault(tuple(row), []).append(row)
            for names, group in groups.items():
                set_keys = [k for k in names if k not in pk_keys]
                if not set_keys:
                    continue
                where = [info.fields[k].column == bindparam(f"pk_{k}") for k in pk_keys]
                values: dict[str, Any] = {k: bindparam(f"v_{k}") for k in set_keys}
                statement = update_statement(target, where, values, core=True)
                params = [
                    {**{f"pk_{k}": row[k] for k in pk_keys}, **{f"v_{k}": row[k] for k in set_keys}}
                    for row in group
                ]
                await connection.execute(statement, params)
            await reload_held(target, holds_key(keys))
    return matched


async def _lock_existing(target: Target, keys: Sequence[Any]) -> int:
    """Lock the rows about to be updated, in key order; return how many exist."""
    pk = [f.attribute for f in target.info.primary_key]
    statement = select(*pk).where(pk_in(target, keys), *scope_criteria(target)).order_by(*pk)
    locked = target.backend.lock(statement, nowait=False, skip_locked=False)
    return len((await execute(target, locked)).all())


async def set_deleted(target: Target, id: Any, *, deleted: bool) -> bool:
    """Mark a row deleted (or restore it) through the one UPDATE builder; whether it changed.

    Raises:
        InvalidQueryError: the model has no `SoftDeleteMixin`.
    """
    field = target.info.soft_delete
    if field is None:
        raise InvalidQueryError(f"{target.model.__name__} has no SoftDeleteMixin")
    column = field.attribute
    condition = column.is_(None) if deleted else column.is_not(None)
    values = {field.key: utcnow() if deleted else None}
    ident = pk_value(target.info, id)
    return await update_one(target.widened("all"), ident, values, [condition]) is not None


async def update_entity(target: Target, entity: Any, values: Mapping[str, Any]) -> Any:
    """Write checked `values` to the row of an entity the session holds; return it refreshed.

    Columns go through the one UPDATE builder, under the entity's version for
    `VersionMixin` models; relationships are assigned through the ORM.

    Raises:
        ConcurrentModificationError: the version no longer matches (or the row went).
        NotFoundError: the row no longer exists.
    """
    info = target.info
    columns = {k: v for k, v in values.items() if k not in info.relationships}
    related = {k: v for k, v in values.items() if k in info.relationships}
    await flush(target)  # pending changes first, so the version read below is current
    state = inspect(entity)
    if columns:
        conditions: list[Any] = []
        if info.version is not None:
            conditions.append(info.version.attribute == state.dict[info.version.key])
        ident = pk_of_identity(state)
        if await update_one(target, ident, columns, conditions) is None:
            raise _missed(target, ident)
    if related:
        # a collection is replaced against what it holds: load it first, in one go
        reread = select(target.model).where(pk_equals(info, pk_of_identity(state)))
        await fetch_all(target, with_load(reread, target.model, list(related), locking=True))
        for key, value in related.items():
            setattr(entity, key, value)
        await flush(target)
        await ensure_loaded(target, [entity])
    return entity


def pk_of_identity(state: Any) -> Any:
    """The key of a persistent entity, from its identity (no attribute access)."""
    identity = tuple(state.identity or ())
    return identity[0] if len(identity) == 1 else identity


def _missed(target: Target, ident: Any) -> OrmError:
    name = target.model.__name__
    if target.info.version is not None:
        return ConcurrentModificationError(
            f"{name} was modified or deleted by another transaction",
            {"model": name, "id": ident},
        )
    return NotFoundError(f"{name} not found", {"model": name, "filters": {"id": ident}})
