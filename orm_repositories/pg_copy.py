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


async def copy_rows(
    connection: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> int:
    """COPY `rows` (dicts keyed by column key, all with the same keys) into `table`.

    Raises:
        NotCopyableError: a default cannot be reproduced; use an INSERT instead.
        sqlalchemy.exc.DBAPIError: the database rejected the rows.
    """
    if not rows:
        return 0
    dialect = connection.dialect
    keys = list(rows[0])
    producers = python_defaults(table, keys)
    columns = [table.c[k] for k in keys] + list(producers)
    processors = [c.type._cached_bind_processor(dialect) for c in columns]
    extra = list(producers.values())
    records = []
    for row in rows:
        values = [row[k] for k in keys]
        values.extend(produce() for produce in extra)
        records.append(
            tuple(
                value if process is None else process(value)
                for process, value in zip(processors, values, strict=True)
            )
        )
    raw = await connection.get_raw_connection()
    try:
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            table.name,
            records=records,
            columns=[c.name for c in columns],
            schema_name=table.schema,
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
