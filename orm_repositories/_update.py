"""The update paths: one row, many rows by condition, many rows by key, soft delete.

Every statement comes from the one builder, `_update_statement.update_statement`;
single-row updates of a fixed shape reuse a prepared statement (`_prepared`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, inspect, select

from orm_core.dialects import array_parameter
from orm_core.errors import (
    ConcurrentModificationError,
    InvalidQueryError,
    NotFoundError,
    OrmError,
)
from orm_core.fields import is_sql
from orm_core.lookups import Comparison
from orm_core.session import nested
from orm_core.translate import translating
from orm_core.types import utcnow
from orm_repositories._changes import (
    Wanted,
    after,
    before,
    key_fields,
    locked_rows,
    stored,
    wanted,
)
from orm_repositories._keys import (
    chunks,
    matches_nothing,
    pk_equals,
    pk_in,
    pk_of_values,
    pk_value,
    sorted_keys,
)
from orm_repositories._loading import with_load
from orm_repositories._managed import managed_values
from orm_repositories._materialize import core_returning, fetch_updated
from orm_repositories._prepared import parameters, set_and_compare
from orm_repositories._reload import ensure_loaded, has_expired_columns, holds_key, reload_held
from orm_repositories._select import select_entities
from orm_repositories._target import (
    Target,
    execute,
    execute_write,
    fetch_all,
    fetch_first,
    flush,
    write_connection,
)
from orm_repositories._update_statement import SYNCED, update_statement
from orm_repositories._values import check_values


async def run_update_one(
    target: Target,
    statement: Any,
    params: Any,
    ident: Any,
    values: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
    *,
    action: str | None = None,
) -> Any:
    """Run an UPDATE of one row; return the row's new state (refreshing held copies) or None.

    `values` are what the call was asked to write (for the write events), or a function
    making them, called only when something listens; the audit trail's old values are
    read under the row lock first.
    """
    want = wanted(target, "update")
    if callable(values):
        values = values() if want.before or want.changes else {}
    if want.before:
        await before(target, "update", [{**key_fields(target.info, ident), **values}])
    old = None
    if want.audit:
        old = (await locked_rows(target, [pk_equals(target.info, ident)], columns=True)).get(ident)
        if old is None:
            return None
    if core_returning(target):
        entity = await fetch_updated(target, statement, params)
    elif target.backend.update_returning:
        entity = await fetch_first(target, statement, params, write=True)
    else:
        result = await execute_write(target, statement, params)
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        reread = select_entities(target).where(pk_equals(target.info, ident))
        entity = await fetch_first(target, reread.execution_options(populate_existing=True))
    if entity is not None and want.changes:
        written = [*values, *managed_values(target.info, values)]
        new = stored(target.info, entity, written)
        await after(target, "update", [(ident, old, new)], action=action)
    return entity


async def update_one(
    target: Target,
    ident: Any,
    values: Mapping[str, Any],
    compared: Sequence[Comparison] = (),
    *,
    conditions: Sequence[Any] = (),
    action: str | None = None,
) -> Any:
    """Update the row `ident` if it passes `compared` and `conditions`; its new state or None.

    Without SQL `conditions` or SQL values the statement is a prepared one.
    """
    if not conditions and not matches_nothing(ident):
        found = set_and_compare(target, values, compared)
        if found is not None:
            statement, params = found
            params.update(parameters(target, statement, ident, list(values), touch=True))
            return await run_update_one(
                target, statement.statement, params, ident, values, action=action
            )
    where = [pk_equals(target.info, ident), *(c.condition() for c in compared), *conditions]
    statement = update_statement(target, where, values, returning=True)
    options = statement.execution_options(**SYNCED)
    return await run_update_one(target, options, None, ident, values, action=action)


async def update_where(target: Target, conditions: Sequence[Any], values: Mapping[str, Any]) -> int:
    """Update every row matching `conditions`; return the number of rows matched."""
    want = wanted(target, "update")
    await before(target, "update", [dict(values)])
    if not want.changes:
        statement = update_statement(target, conditions, values)
        options = statement.execution_options(synchronize_session="fetch")
        result = await execute_write(target, options)
        await reload_held(target, has_expired_columns(target))
        return int(result.rowcount)  # type: ignore[attr-defined]
    # the rows are read (locked) first: their keys, and the audit trail's old values
    old = await locked_rows(target, conditions, columns=want.audit)
    if not old:
        return 0
    keys = list(old)
    info = target.info
    written = [*values, *managed_values(info, values)]
    changes = []
    columns = [*(f.column for f in info.primary_key), *(info.fields[k].column for k in written)]
    for chunk in chunks(target, keys):
        statement = update_statement(target, [pk_in(target, chunk)], values, core=True)
        if target.backend.update_returning:
            rows = (await execute_write(target, statement.returning(*columns))).all()
        else:
            await execute_write(target, statement)
            reread = select(*columns).where(pk_in(target, chunk))
            rows = (await execute(target, reread)).all()
        for row in rows:
            new = dict(zip([f.key for f in info.primary_key] + written, row, strict=True))
            key = pk_of_values(info, new)
            changes.append((key, old[key] if want.audit else None, new))
    await reload_held(target, holds_key(keys))
    await after(target, "update", changes)
    return len(changes)


async def bulk_update(target: Target, rows: Iterable[Mapping[str, Any]]) -> int:
    """Update rows given with their primary key, each key set as one executemany; rows matched.

    A key given twice counts once (its values merged, the last winning). Rows are
    locked in key order first, so concurrent bulk updates never deadlock.
    """
    info = target.info
    pk_keys = [f.key for f in info.primary_key]
    by_key: dict[Any, dict[str, Any]] = {}
    for row in rows:
        if not isinstance(row, Mapping):
            raise InvalidQueryError("bulk_update takes dicts of field values")
        missing = [k for k in pk_keys if k not in row]
        if missing:
            raise InvalidQueryError(f"bulk_update rows need their primary key {missing}")
        given = tuple(row[k] for k in pk_keys)
        key = pk_value(info, given[0] if len(given) == 1 else given)
        checked = check_values(target, {k: v for k, v in row.items() if k not in pk_keys})
        if not matches_nothing(key):  # a key no row can have matches nothing
            by_key.setdefault(key, key_fields(info, key)).update(checked)
    if not by_key:
        return 0
    await flush(target)
    keys = sorted_keys(by_key)
    want = wanted(target, "update")
    matched = 0
    async with nested(target.session):
        connection = await write_connection(target)
        old: dict[Any, dict[str, Any]] = {}
        for chunk in chunks(target, keys):  # locked in key order: no deadlock
            old.update(await locked_rows(target, [pk_in(target, chunk)], columns=want.audit))
        matched = len(old)
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in by_key.values():
            groups.setdefault(tuple(row), []).append(row)
        for names, group in groups.items():
            set_keys = [k for k in names if k not in pk_keys]
            if set_keys:
                await _update_group(target, connection, pk_keys, set_keys, group, old, want)
        await reload_held(target, holds_key(keys))
    return matched


async def _update_group(
    target: Target,
    connection: Any,
    pk_keys: list[str],
    set_keys: list[str],
    group: list[dict[str, Any]],
    old: dict[Any, dict[str, Any]],
    want: Wanted,
) -> None:
    """The rows that set the same fields, reported as one event: one statement over column
    arrays where the backend has them (`UPDATE … FROM unnest(…)`), else one executemany."""
    info = target.info
    await before(target, "update", group)
    keys = [*pk_keys, *set_keys]
    source = target.backend.array_rows(target.table, [info.fields[k].column.key for k in keys])
    params: Any
    if source is not None:
        rows = list(source.subquery("orm_rows").c)
        where = [info.fields[k].column == rows[i] for i, k in enumerate(pk_keys)]
        values: dict[str, Any] = {k: rows[len(pk_keys) + i] for i, k in enumerate(set_keys)}
        params = {array_parameter(i): [row[k] for row in group] for i, k in enumerate(keys)}
    else:
        where = [info.fields[k].column == bindparam(f"pk_{k}") for k in pk_keys]
        values = {k: bindparam(f"v_{k}") for k in set_keys}
        params = [
            {**{f"pk_{k}": row[k] for k in pk_keys}, **{f"v_{k}": row[k] for k in set_keys}}
            for row in group
        ]
    managed = managed_values(info, values)
    statement = update_statement(target, where, values, core=True, managed=managed)
    with translating():
        await connection.execute(statement, params)
    if not want.changes:
        return
    plain = {k: v for k, v in managed.items() if not is_sql(v)}
    changes = []
    for row in group:
        key = pk_of_values(info, row)
        if key not in old:
            continue  # no such row: nothing was written
        new = {**row, **plain}
        if info.version is not None and info.version.key in old[key]:
            new[info.version.key] = old[key][info.version.key] + 1
        changes.append((key, old[key] if want.audit else None, new))
    await after(target, "update", changes)


async def set_deleted(target: Target, id: Any, *, deleted: bool) -> bool:
    """Mark a row deleted (or restore it) through the one UPDATE builder; whether it changed.

    Raises:
        InvalidQueryError: the model has no `SoftDeleteMixin`.
    """
    field = target.info.soft_delete
    if field is None:
        raise InvalidQueryError(f"{target.model.__name__} has no SoftDeleteMixin")
    # soft_delete finds the row not deleted yet, restore finds it deleted
    unchanged = Comparison(field, "isnull", deleted)
    values = {field.key: utcnow() if deleted else None}
    ident = pk_value(target.info, id)
    action = "soft_delete" if deleted else "restore"
    wide = target.widened("all")
    return await update_one(wide, ident, values, [unchanged], action=action) is not None


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
        compared: list[Comparison] = []
        if info.version is not None:
            compared.append(Comparison(info.version, "eq", state.dict[info.version.key]))
        ident = pk_of_identity(state)
        if await update_one(target, ident, columns, compared) is None:
            raise _missed(target, ident)
    if related:
        # a collection is replaced against what it holds: load it first, in one go
        reread = select(target.model).where(pk_equals(info, pk_of_identity(state)))
        await fetch_all(target, with_load(reread, target, list(related), locking=True))
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
