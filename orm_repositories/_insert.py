"""The insert path: `add`, `create`, `bulk_create` and `clone`.

Values are checked by the same `FieldInfo.store` on every path; bulk inserts send
a row plan's records through COPY where the backend has it and every omitted
column's default is known in Python, else through one compiled INSERT run with
executemany. Each bulk call runs in a savepoint: a failure leaves none of its rows
written, even when the caller catches the error and commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import insert, inspect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm.attributes import set_committed_value

from orm_core.errors import InvalidQueryError
from orm_core.session import nested
from orm_core.tenancy import tenant_value
from orm_core.translate import translating
from orm_repositories._changes import after, before, stored, wanted
from orm_repositories._keyed import insert_reporting
from orm_repositories._keys import pk_of, pk_of_values
from orm_repositories._reload import ensure_loaded
from orm_repositories._rows import batches, grouped, row_plan
from orm_repositories._send import prepare_rows, send_rows
from orm_repositories._target import Target, flush, write_connection
from orm_repositories._values import check_entity, check_values

# Columns the framework's mixins manage: a copy gets fresh defaults for them.
MANAGED_FIELDS: frozenset[str] = frozenset({"created_at", "updated_at", "deleted_at"})


async def add(target: Target, entities: Sequence[Any]) -> None:
    """Insert entities through the ORM and load what the database generated.

    A column the INSERT left out and nothing fills in holds NULL: it is set so
    without asking the database.
    """
    for entity in entities:
        check_entity(target, entity, inserting=True)
    want = wanted(target, "create")
    if want.before:
        await before(target, "create", [stored(target.info, e) for e in entities])
    target.session.add_all(entities)
    await flush(target)
    nulls = [f.key for f in target.info.fields.values() if f.null_when_omitted]
    for entity in entities:
        unloaded = inspect(entity).unloaded
        for key in nulls:
            if key in unloaded:
                set_committed_value(entity, key, None)
    await ensure_loaded(target, entities)
    if want.changes:
        changes = [(pk_of(target.info, e), None, stored(target.info, e)) for e in entities]
        await after(target, "create", changes)


async def create(target: Target, values: Mapping[str, Any]) -> Any:
    """Build an entity from checked values and insert it."""
    entity = target.model(**check_values(target, values, inserting=True))
    await add(target, [entity])
    return entity


async def bulk_create(target: Target, rows: Iterable[Mapping[str, Any]], batch_size: int) -> int:
    """Insert rows of field values without ORM objects; return how many were inserted."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidQueryError("batch_size must be a positive integer")
    if isinstance(rows, Mapping | str | bytes) or not isinstance(rows, Iterable):
        raise InvalidQueryError("bulk_create takes an iterable of dicts")
    await flush(target)
    statement = insert(target.table)
    inserted = 0
    offset = 0
    if target.info.tenant is not None:
        rows = _stamped(target, rows)
    async with nested(target.session):
        connection = await write_connection(target)
        want = wanted(target, "create")
        for batch in batches(rows, batch_size):
            await before(target, "create", batch)
            if want.changes:
                inserted += await _reported(target, connection, statement, batch, offset)
                offset += len(batch)
                continue
            # every row of the batch is checked before any of it is sent
            prepared = []
            for keys, group in grouped(batch).items():
                plan = row_plan(target.info, target.table, connection.dialect, keys)
                try:
                    ready = prepare_rows(
                        connection, target.backend, plan, statement, group, copy=True
                    )
                except InvalidQueryError as exc:
                    raise _in_call(exc, batch, group, offset) from exc
                prepared.append(ready)
            for ready in prepared:
                inserted += await send_rows(connection, target.backend, ready)
            offset += len(batch)
    return inserted


async def clone(
    target: Target, entity: Any, exclude_fields: Iterable[str], overrides: Mapping[str, Any]
) -> Any:
    """Insert a copy of `entity`: never its key, version or timestamps, and not `exclude_fields`."""
    check_entity(target, entity)
    if isinstance(exclude_fields, str) or not isinstance(exclude_fields, Iterable):
        raise InvalidQueryError("exclude_fields must be a list of field names")
    excluded = set(exclude_fields)
    for name in excluded:
        target.info.field(name)
    state = inspect(entity)
    if state.persistent and state.session is target.session.sync_session:
        await ensure_loaded(target, [entity])
    info = target.info
    skipped = {f.key for f in info.primary_key} | (MANAGED_FIELDS & set(info.fields)) | excluded
    if info.version is not None:
        skipped.add(info.version.key)
    values = {k: state.dict[k] for k in info.fields if k not in skipped and k in state.dict}
    return await create(target, {**values, **overrides})


async def _reported(
    target: Target, connection: AsyncConnection, statement: Any, batch: list[Any], offset: int
) -> int:
    """Insert a batch whose rows are reported (events, audit); return how many."""

    def locate(exc: InvalidQueryError, group: list[Mapping[str, Any]]) -> InvalidQueryError:
        return _in_call(exc, batch, group, offset)

    changes = await insert_reporting(target, connection, statement, batch, locate)
    if changes is None:
        return await _insert_returning(target, connection, statement, batch, offset)
    await after(target, "create", changes)
    return len(changes)


async def _insert_returning(
    target: Target, connection: AsyncConnection, statement: Any, batch: list[Any], offset: int
) -> int:
    """Insert a batch returning the stored rows, for its `after_create` event and audit rows.

    Returning keys rules out COPY: one INSERT per key set, batched by SQLAlchemy's
    executemany with RETURNING.
    """
    info = target.info
    table = target.table
    checked = []
    for keys, group in grouped(batch).items():
        plan = row_plan(info, table, connection.dialect, keys)
        try:
            checked.append(plan.checked(group))
        except InvalidQueryError as exc:
            raise _in_call(exc, batch, group, offset) from exc
    names = {field.column.key: key for key, field in info.fields.items()}
    changes = []
    for rows in checked:
        with translating():
            result = await connection.execute(statement.returning(*table.c), rows)
        for row in result.mappings():
            values = {names[column]: value for column, value in row.items() if column in names}
            changes.append((pk_of_values(info, values), None, values))
    await after(target, "create", changes)
    return len(changes)


def _stamped(target: Target, rows: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Rows carrying the unit of work's tenant (a row naming another one is refused)."""
    info = target.info
    assert info.tenant is not None
    key = info.tenant.key
    for row in rows:
        if not isinstance(row, Mapping):
            raise InvalidQueryError("bulk rows must be dicts of field values")
        yield {**row, key: tenant_value(target.tenant, info.model, row.get(key))}


def _in_call(
    exc: InvalidQueryError, batch: list[Any], group: list[Mapping[str, Any]], offset: int
) -> InvalidQueryError:
    """Name the failing row by its index in the whole call, not in its key group."""
    index = exc.details.get("row")
    if not isinstance(index, int) or not 0 <= index < len(group):
        return exc
    row = group[index]
    position = next(i for i, candidate in enumerate(batch) if candidate is row)
    message = exc.message.removeprefix(f"row {index}: ")
    return InvalidQueryError(
        f"row {offset + position}: {message}", {**exc.details, "row": offset + position}
    )
