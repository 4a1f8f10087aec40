"""Sending checked rows: COPY, one compiled INSERT run with executemany, or SQLAlchemy.

`prepare_rows` checks and converts rows for the fastest way the backend and the plan
allow; `send_rows` sends them. Bulk inserts, upserts and audit rows all go through here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from orm_core.dialects import Backend
from orm_core.translate import translating
from orm_repositories._rows import RowPlan, compiled


@dataclass(frozen=True, slots=True)
class Prepared:
    """Rows checked and converted, ready to be sent one way: COPY, compiled, or generic."""

    statement: Any
    plan: RowPlan
    how: str
    payload: list[Any]
    sql: str = ""


def prepare_rows(
    connection: AsyncConnection,
    backend: Backend,
    plan: RowPlan,
    statement: Any,
    rows: Sequence[Mapping[str, Any]],
    *,
    copy: bool,
    stored: bool = False,
    shape: tuple[Any, ...] = (),
) -> Prepared:
    """Check and convert `rows` for `statement` (or COPY when allowed and possible).

    Under a schema translation (schema per tenant) SQLAlchemy renders the statement
    itself: the precompiled fast path would name the default schema.
    """
    schema_map = translated(connection)
    if copy and backend.copy and plan.python_only:
        return Prepared(statement, plan, "copy", plan.records(rows, stored=stored))
    found = None if schema_map else compiled(plan, statement, connection.dialect, shape)
    if found is None:
        return Prepared(statement, plan, "generic", plan.checked(rows))
    records = plan.records(rows, stored=stored)
    return Prepared(statement, plan, "compiled", found.parameters(records), found.sql)


async def send_rows(connection: AsyncConnection, backend: Backend, ready: Prepared) -> int:
    """Send prepared rows; return how many."""
    if not ready.payload:
        return 0
    with translating():
        if ready.how == "copy":
            table = ready.statement.table
            schema = translated(connection).get(table.schema, table.schema)
            columns = ready.plan.columns
            await backend.copy_records(connection, table, columns, ready.payload, schema)
        elif ready.how == "generic":
            await connection.execute(ready.statement, ready.payload)
        else:
            await connection.exec_driver_sql(ready.sql, ready.payload)
    return len(ready.payload)


def translated(connection: AsyncConnection) -> dict[Any, Any]:
    """The schema translation the connection runs under (schema per tenant), if any."""
    sync = connection.sync_connection
    options = sync.get_execution_options() if sync is not None else {}
    return dict(options.get("schema_translate_map") or {})


async def write_rows(
    connection: AsyncConnection,
    backend: Backend,
    plan: RowPlan,
    statement: Any,
    rows: Sequence[Mapping[str, Any]],
    *,
    copy: bool,
    stored: bool = False,
    shape: tuple[Any, ...] = (),
) -> int:
    """Check, convert and send `rows`; return the count."""
    ready = prepare_rows(
        connection, backend, plan, statement, rows, copy=copy, stored=stored, shape=shape
    )
    return await send_rows(connection, backend, ready)
