"""Row-count estimates from the query planner, for `paginate(count="estimate")`.

PostgreSQL: `EXPLAIN (FORMAT JSON)` of the page's query without LIMIT/OFFSET; the
top plan node's "Plan Rows" is the planner's estimate, built from the table
statistics (`pg_class.reltuples` scaled to the table's current size, and column
statistics for the filters). It costs one planning round trip, however big the
table. Other databases have no cheap estimate: they answer None and the caller
counts exactly.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable

from orm_core.translate import translate


class Explain(Executable, ClauseElement):
    """`EXPLAIN (FORMAT JSON) <statement>`, keeping the statement's bound parameters."""

    inherit_cache = False

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _compile_explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


async def _postgresql(session: AsyncSession, statement: Select[Any]) -> int | None:
    try:
        plan: Any = (await session.execute(Explain(statement))).scalar_one()
    except Exception as exc:
        raise translate(exc) from exc
    if isinstance(plan, str):
        plan = json.loads(plan)
    rows = plan[0]["Plan"]["Plan Rows"]
    return int(rows)


_ESTIMATORS: dict[str, Callable[[AsyncSession, Select[Any]], Awaitable[int | None]]] = {
    "postgresql": _postgresql,
}


async def estimate_rows(session: AsyncSession, statement: Select[Any]) -> int | None:
    """Return the planner's estimate of the rows `statement` yields, or None if unavailable."""
    estimator = _ESTIMATORS.get(session.get_bind().dialect.name)
    return None if estimator is None else await estimator(session, statement)
