"""Bulk inserts that report their rows without RETURNING.

A bulk insert whose rows must be reported (write events, the audit trail) needs each
row's key and stored values. When every omitted column's value is known in Python,
the rows are completed in Python, their keys taken from the rows themselves (given
or defaulted), handed out before the insert (a PostgreSQL sequence) or read back
after it (SQLite's rowid), and the rows go the fast way: COPY or one compiled INSERT.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from orm_core.errors import InvalidQueryError
from orm_repositories._changes import Change
from orm_repositories._rows import grouped, row_plan
from orm_repositories._send import prepare_rows, send_rows, translated
from orm_repositories._target import Target

Located = Any  # turns a plan's error into one naming the row's index in the whole call


async def insert_reporting(
    target: Target,
    connection: AsyncConnection,
    statement: Any,
    batch: list[Mapping[str, Any]],
    locate: Located,
) -> list[Change] | None:
    """Insert `batch` the fast way and return `(key, None, stored values)` per row.

    None, with nothing sent, when the keys or stored values cannot be known in advance
    (a composite or non-integer generated key, a server-side default, a schema
    translation); the caller then inserts with RETURNING.
    """
    info = target.info
    if len(info.primary_key) != 1 or translated(connection):
        return None
    key = info.primary_key[0].key
    groups: list[list[dict[str, Any]]] = []
    for keys, group in grouped(batch).items():
        plan = row_plan(info, target.table, connection.dialect, keys)
        if not plan.python_only:
            return None
        try:
            groups.append(plan.completed(group))
        except InvalidQueryError as exc:
            raise locate(exc, group) from exc
    rows = [row for group in groups for row in group]
    given = sum(1 for row in rows if row.get(key) is not None)
    if given not in (0, len(rows)):
        return None
    column = info.primary_key[0].column
    if given == 0:
        allocated = await target.backend.allocate_keys(connection, column, len(rows))
        if allocated is not None:
            for row, value in zip(rows, allocated, strict=True):
                row[key] = value
            given = len(rows)
        elif not target.backend.counts_keys_back(column):
            return None
    for completed in groups:
        await _send(target, connection, statement, completed)
    if given == 0:
        # one statement per group: rowids run on across them in the order sent
        keys_back = await target.backend.inserted_keys(connection, len(rows))
        for row, value in zip(rows, keys_back, strict=True):
            row[key] = value
    return [(row[key], None, row) for row in rows]


async def _send(
    target: Target, connection: AsyncConnection, statement: Any, rows: Sequence[dict[str, Any]]
) -> None:
    if not rows:
        return
    key = target.info.primary_key[0].key
    keys = tuple(k for k, value in rows[0].items() if k != key or value is not None)
    plan = row_plan(target.info, target.table, connection.dialect, keys)
    ready = prepare_rows(connection, target.backend, plan, statement, rows, copy=True, stored=True)
    await send_rows(connection, target.backend, ready)
