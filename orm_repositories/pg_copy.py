"""Insert rows into PostgreSQL with COPY on the session's own asyncpg connection.

COPY skips SQLAlchemy's statement machinery, so this module does by hand what
an INSERT would: it fills in Python-side column defaults and applies each
column type's bind processing, so the rows stored equal what an ORM insert
stores. Errors are adapted into the SQLAlchemy exceptions the rest of the
framework translates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection

from orm_core.fields import Field
from orm_core.types import utcnow

Producer = Callable[[], Any]


class NotCopyableError(Exception):
    """A column default COPY cannot reproduce (SQL expression, sequence, context)."""


def python_defaults(table: Table, given: Sequence[str]) -> dict[Column[Any], Producer]:
    """Return a producer per column whose Python-side default an INSERT would apply.

    Raises:
        NotCopyableError: a column left out has a default only SQL can compute.
    """
    producers: dict[Column[Any], Producer] = {}
    for column in table.columns:
        default = column.default
        if column.key in given or default is None:
            continue
        if default.is_scalar:
            producers[column] = _constant(default.arg)  # type: ignore[attr-defined]
        elif default.is_callable:
            producers[column] = _call(default.arg)  # type: ignore[attr-defined]
        else:
            raise NotCopyableError(column.key)
    return producers


def _constant(value: Any) -> Producer:
    return lambda: value


def _call(function: Callable[[Any], Any]) -> Producer:
    try:
        function(None)  # a default that needs the execution context cannot be copied
    except Exception as exc:
        raise NotCopyableError(repr(function)) from exc
    return lambda: function(None)


def _once_per_batch(column: Column[Any]) -> bool:
    """Tell whether a default may be evaluated once for a whole batch.

    Constants and the framework's own `utcnow` qualify: a batch then shares one
    timestamp, as rows inserted by one statement share PostgreSQL's now().
    """
    default = column.default
    if default is None or default.is_scalar:
        return True
    return getattr(getattr(default, "arg", None), "__wrapped__", None) is utcnow


Converter = Callable[[Any], Any]


def _converter(store: Converter, process: Converter | None) -> Converter:
    if process is None:
        return store
    return lambda value: process(store(value))


async def copy_rows(
    connection: AsyncConnection,
    table: Table,
    fields: Sequence[Field],
    rows: Sequence[Mapping[str, Any]],
) -> int:
    """COPY `rows` (dicts keyed by the `fields`' keys) into `table`, checking every value.

    Raises:
        NotCopyableError: a default cannot be reproduced; use an INSERT instead.
        InvalidQueryError: a value of the wrong type for its column.
        sqlalchemy.exc.DBAPIError: the database rejected the rows.
    """
    if not rows:
        return 0
    dialect = connection.dialect
    producers = python_defaults(table, [f.column.key for f in fields])
    plan = [
        (f.key, _converter(f.store, f.column.type._cached_bind_processor(dialect)))
        for f in fields
    ]
    stable: list[Any] = []
    varying: list[tuple[Producer, Callable[[Any], Any] | None]] = []
    for column, produce in producers.items():
        process = column.type._cached_bind_processor(dialect)
        if _once_per_batch(column):
            value = produce()
            stable.append(value if process is None else process(value))
        else:
            varying.append((produce, process))
    tail = tuple(stable)
    records: list[tuple[Any, ...]]
    if varying:
        records = [
            (
                *[convert(row[key]) for key, convert in plan],
                *tail,
                *[p(v()) if p is not None else v() for v, p in varying],
            )
            for row in rows
        ]
    else:
        records = [(*[convert(row[key]) for key, convert in plan], *tail) for row in rows]
    stable_columns = [c for c in producers if _once_per_batch(c)]
    varying_columns = [c for c in producers if not _once_per_batch(c)]
    names = [f.column.name for f in fields] + [c.name for c in stable_columns + varying_columns]
    raw = await connection.get_raw_connection()
    try:
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            table.name, records=records, columns=names, schema_name=table.schema
        )
    except Exception as error:
        raise _adapted(raw.dbapi_connection, dialect, table, error) from error
    return len(records)


def _adapted(dbapi_connection: Any, dialect: Any, table: Table, error: Exception) -> Exception:
    """Wrap a raw asyncpg error the way SQLAlchemy wraps errors of its own statements."""
    dbapi = dialect.loaded_dbapi
    try:
        dbapi_connection._handle_exception(error)
    except dbapi.Error as adapted:
        wrapped: Exception = sa_exc.DBAPIError.instance(
            f"COPY {table.name}", None, adapted, dbapi.Error, dialect=dialect
        )
        return wrapped
    except Exception as other:
        return other
    return error  # pragma: no cover - _handle_exception always raises
