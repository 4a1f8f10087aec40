"""Upserts: insert a row, or update the row holding the same unique key, in one statement.

The backend spells the statement (`ON CONFLICT … DO UPDATE` on PostgreSQL and SQLite,
`ON DUPLICATE KEY UPDATE` on MySQL/MariaDB, which re-read the row by its conflict
fields); the update part takes its managed values from the one UPDATE builder's
rules (`orm_repositories._upsert_statement`). `upsert_many` checks its rows a column
at a time and, where the backend takes arrays (PostgreSQL), sends each batch as one
statement over column arrays; elsewhere one compiled single-row statement run with
executemany, since compiling a multi-VALUES statement of thousands of rows costs more
than running it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select, tuple_

from orm_core.errors import DuplicateError, InvalidQueryError
from orm_core.session import nested
from orm_core.tenancy import ALL_TENANTS, tenant_value
from orm_core.translate import translating
from orm_repositories._changes import Wanted, after, before, locked_rows, stored, wanted
from orm_repositories._columns import (
    Checked,
    Stamp,
    checked_columns,
    collapsed_rows,
    last_of_each_key,
)
from orm_repositories._keys import chunks, pk_of, pk_of_values
from orm_repositories._managed import managed_values
from orm_repositories._reload import holds_values, reload_held
from orm_repositories._rows import RowPlan, compiled_arrays, row_plan
from orm_repositories._select import scope_criteria
from orm_repositories._send import translated, write_rows
from orm_repositories._target import (
    Target,
    execute_write,
    fetch_first,
    write_connection,
)
from orm_repositories._upsert_statement import (
    conflict_names,
    updates_for,
    upsert_plan,
    upsert_statement,
)
from orm_repositories._values import check_values

# Rows handed to one executemany call: bounds memory, not bind parameters.
UPSERT_BATCH_SIZE = 5_000
# Rows in one statement over column arrays (its parameters are one per column).
ARRAY_BATCH_SIZE = 20_000


async def upsert(
    target: Target, values: Mapping[str, Any], conflict_fields: Any, update_fields: Any
) -> Any:
    """Upsert one row and return the entity holding the stored values."""
    checked = check_values(target, values, inserting=True)
    conflict, chosen = upsert_plan(target, conflict_fields, update_fields, [tuple(checked)])
    updates = updates_for(target.info, tuple(checked), conflict, chosen)
    info = target.info
    statement = upsert_statement(target, target.model, conflict, updates).values(
        {info.fields[k].attribute: v for k, v in checked.items()}
    )
    await before(target, "create", [checked])
    report = _reporting(target)
    held: dict[Any, dict[str, Any]] = {}
    if report.changes:
        where = [info.fields[k].attribute == checked[k] for k in conflict]
        # rows an upsert leaves alone are not locked either
        held = await locked_rows(target, where, columns=report.audit, lock=bool(updates))
    if info.tenant is not None and target.tenant is not ALL_TENANTS:
        # another tenant's conflicting row is locked by the attempt: a savepoint lets it go
        async with nested(target.session):
            entity = await _write_one(target, statement, checked, conflict)
    else:
        entity = await _write_one(target, statement, checked, conflict)
    if report.changes:
        key = pk_of(info, entity)
        if not held:
            await after(target, "create", [(key, None, stored(info, entity))])
        elif updates:
            written = [*updates, *managed_values(info, updates)]
            old = next(iter(held.values())) if report.audit else None
            await after(target, "update", [(key, old, stored(info, entity, written))])
    return entity


async def _write_one(
    target: Target, statement: Any, checked: Mapping[str, Any], conflict: list[str]
) -> Any:
    """Run a single-row upsert; its stored row, or `DuplicateError` for another tenant's."""
    entity = None
    if target.backend.upsert_returning:
        returning = statement.returning(target.model).execution_options(populate_existing=True)
        entity = await fetch_first(target, returning, write=True)
    else:
        await execute_write(target, statement)
    if entity is None:
        # no RETURNING, or a conflict left alone (DO NOTHING returns nothing): a plain read
        where = [target.info.fields[k].attribute == checked[k] for k in conflict]
        reread = select(target.model).where(*scope_criteria(target.widened("all")), *where)
        entity = await fetch_first(target, reread.execution_options(populate_existing=True))
    if entity is None:
        raise _elsewhere(target, conflict)
    return entity


def _reporting(target: Target) -> Wanted:
    """What an upsert must report: it may create rows and update others."""
    create, update = wanted(target, "create"), wanted(target, "update")
    return Wanted(False, create.after or update.after, create.audit)


def _elsewhere(target: Target, conflict: list[str]) -> DuplicateError:
    """The conflicting row belongs to another tenant: it behaves like a key taken."""
    return DuplicateError(
        f"a {target.model.__name__} with the same {', '.join(conflict)} already exists",
        {"fields": conflict},
    )


async def upsert_many(
    target: Target, rows: Iterable[Mapping[str, Any]], conflict_fields: Any, update_fields: Any
) -> int:
    """Upsert rows with one compiled statement per key set; return the rows written."""
    if isinstance(rows, Mapping | str | bytes) or not isinstance(rows, Iterable):
        raise InvalidQueryError("upsert_many takes an iterable of dicts")
    info = target.info
    names = conflict_names(target, conflict_fields)
    checked = checked_columns(
        info, rows, names, stamp=_stamp(target), what="upsert_many"
    )  # fmt: skip
    if not checked.rows:
        return 0
    conflict, chosen = upsert_plan(target, conflict_fields, update_fields, list(checked.groups))
    report = _reporting(target)
    # a tenant's upsert must see which rows it wrote: another tenant's row is a conflict
    checked_out = report.changes or (info.tenant is not None and target.tenant is not ALL_TENANTS)
    if len(checked.groups) == 1 and not checked_out and not wanted(target, "create").before:
        written_columns = await _upsert_columns(target, checked, conflict, chosen)
        if written_columns is not None:
            return written_columns
    collapsed = collapsed_rows(checked, names)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in collapsed.values():
        groups.setdefault(tuple(row), []).append(row)
    written = 0
    async with nested(target.session):
        connection = await write_connection(target)
        for keys, group in groups.items():
            updates = updates_for(info, keys, conflict, chosen)
            plan = row_plan(info, target.table, connection.dialect, keys)
            source = _array_source(target, plan)
            statement = upsert_statement(target, target.table, conflict, updates, source=source)
            shape = ("upsert", tuple(conflict), tuple(updates))
            size = ARRAY_BATCH_SIZE if source is not None else UPSERT_BATCH_SIZE
            for start in range(0, len(group), size):
                batch = group[start : start + size]
                await before(target, "create", batch)
                if not checked_out and updates:
                    if source is None:
                        await write_rows(
                            connection, target.backend, plan, statement, batch,
                            copy=False, stored=True, shape=shape,
                        )  # fmt: skip
                    else:
                        await _write_arrays(connection, plan, statement, batch, shape)
                    written += len(batch)
                    continue
                # one statement for the batch: the column arrays, or executemany of the rows
                params = plan.checked(batch) if source is None else plan.arrays(batch)
                if checked_out:
                    written += await _reported_batch(
                        target, connection, statement, params, batch, conflict, updates, report
                    )
                else:
                    written += await _insert_new(target, connection, statement, params)
    await reload_held(target, holds_values(conflict, list(collapsed)))
    return written


async def _upsert_columns(
    target: Target, checked: Checked, conflict: list[str], chosen: list[str] | None
) -> int | None:
    """Upsert rows of one set of fields straight from their checked columns (no events to
    fire, nothing to report): one statement over column arrays per batch. None: the
    backend takes no arrays, or nothing is to be updated (the rows path handles those).
    """
    info = target.info
    ((keys, (_where, columns)),) = checked.groups.items()
    updates = updates_for(info, keys, conflict, chosen)
    plan = row_plan(info, target.table, target.backend.dialect, keys)
    source = _array_source(target, plan)
    if source is None or not updates:
        return None
    found, columns = last_of_each_key(keys, columns, conflict)
    statement = upsert_statement(target, target.table, conflict, updates, source=source)
    shape = ("arrays", "upsert", tuple(conflict), tuple(updates))
    async with nested(target.session):
        connection = await write_connection(target)
        compiled = None if translated(connection) else compiled_arrays(
            plan, statement, connection.dialect, shape
        )  # fmt: skip
        for start in range(0, len(found), ARRAY_BATCH_SIZE):
            batch = [column[start : start + ARRAY_BATCH_SIZE] for column in columns]
            with translating():
                if compiled is None:
                    params = plan.named_arrays(plan.column_arrays(batch, processed=False))
                    await connection.execute(statement, params)
                else:
                    arrays = plan.column_arrays(batch, processed=True)
                    await connection.exec_driver_sql(compiled.sql, compiled.parameters(arrays))
    await reload_held(target, holds_values(conflict, found))
    return len(found)


def _stamp(target: Target) -> Stamp | None:
    """Write the unit of work's tenant into each row of a tenant model (None: not one)."""
    info = target.info
    if info.tenant is None:
        return None
    key = info.tenant.key

    def stamp(row: Mapping[str, Any]) -> Mapping[str, Any]:
        return {**row, key: tenant_value(target.tenant, info.model, row.get(key))}

    return stamp


async def _reported_batch(
    target: Target,
    connection: Any,
    statement: Any,
    params: Any,
    batch: list[dict[str, Any]],
    conflict: list[str],
    updates: list[str],
    report: Wanted,
) -> int:
    """Upsert a batch returning what it wrote: created and updated rows told apart.

    The rows already there are read and locked first (the audit trail's old values; and
    the rows left alone by `DO NOTHING`); a row neither returned nor found is another
    tenant's, a `DuplicateError`.
    """
    info = target.info
    table = target.table
    columns = [info.fields[k].column for k in conflict]
    held: dict[tuple[Any, ...], tuple[Any, dict[str, Any]]] = {}
    keys = [tuple(row[k] for k in conflict) for row in batch]
    for chunk in chunks(target, keys, per_item=len(conflict)):
        condition = [_keys_in(target, columns, chunk)]
        found = await locked_rows(target, condition, columns=True, lock=bool(updates))
        for key, values in found.items():
            held[tuple(values[k] for k in conflict)] = (key, values)
    names = {field.column.key: key for key, field in info.fields.items()}
    with translating():
        result = await connection.execute(statement.returning(*table.c), params)
    created, updated, returned = [], [], set()
    written = [*updates, *managed_values(info, updates)]
    for row in result.mappings():
        values = {names[c]: v for c, v in row.items() if c in names}
        conflict_key = tuple(values[k] for k in conflict)
        returned.add(conflict_key)
        if conflict_key in held:
            key, old = held[conflict_key]
            new = {k: values[k] for k in written if k in values}
            updated.append((key, old if report.audit else None, new))
        else:
            created.append((pk_of_values(info, values), None, values))
    if any(k not in returned and k not in held for k in keys):
        raise _elsewhere(target, conflict)
    await after(target, "create", created)
    await after(target, "update", updated)
    return len(returned)


def _keys_in(target: Target, columns: list[Any], keys: Sequence[tuple[Any, ...]]) -> Any:
    if len(columns) == 1:
        return target.backend.value_in(columns[0], [k[0] for k in keys])
    return tuple_(*columns).in_(keys)


async def _insert_new(target: Target, connection: Any, statement: Any, params: Any) -> int:
    """Insert the rows whose key is new, leaving the others untouched; return how many.

    The rows a `DO NOTHING` insert wrote come back through RETURNING (one statement
    over column arrays, or SQLAlchemy's batched executemany); without RETURNING the
    driver's row count is taken.
    """
    if not target.backend.upsert_returning:
        with translating():
            result = await connection.execute(statement, params)
        return int(result.rowcount)
    key = [f.column for f in target.info.primary_key]
    with translating():
        result = await connection.execute(statement.returning(*key), params)
    return len(result.all())


async def _write_arrays(
    connection: Any,
    plan: RowPlan,
    statement: Any,
    batch: list[dict[str, Any]],
    shape: tuple[Any, ...],
) -> None:
    """Run an upsert over column arrays: compiled once, its arrays sent to the driver as
    they are (SQLAlchemy binds them under a schema translation or when it cannot be)."""
    found = None if translated(connection) else compiled_arrays(
        plan, statement, connection.dialect, ("arrays", *shape)
    )  # fmt: skip
    with translating():
        if found is None:
            await connection.execute(statement, plan.arrays(batch))
        else:
            await connection.exec_driver_sql(found.sql, found.parameters(plan.driver_arrays(batch)))


def _array_source(target: Target, plan: RowPlan) -> tuple[Sequence[str], Any] | None:
    """The rows as column arrays where the backend takes them (None: send rows).

    Only when every omitted column's default is known in Python: an INSERT … SELECT
    would evaluate a default SQLAlchemy computes once for the whole statement.
    """
    if not plan.python_only:
        return None
    rows = target.backend.array_rows(target.table, plan.column_keys, plan.shared)
    return None if rows is None else (plan.column_keys, rows)
