"""`QueryMonitor`: count and time every statement a database runs, keep the slow ones.

It listens to SQLAlchemy's cursor events (`before_cursor_execute`,
`after_cursor_execute`, `handle_error`) on an engine; engines derived from it with
`execution_options()` (the isolation, read-only and schema variants of
`Database.engine_for`) share its listeners, so one monitor sees them all. Memory stays
bounded: running totals, and a ring buffer of the most recent slow statements whose SQL
text is cut to a fixed length. Parameter values are never kept.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from orm_core.errors import InvalidQueryError

MAX_SQL_LENGTH = 2000
"""SQL text longer than this (a many-row INSERT) is cut, so the buffer's size stays bounded."""


@dataclass(frozen=True, slots=True)
class SlowQuery:
    """One statement that took at least the slow-query threshold."""

    sql: str
    duration_ms: float
    failed: bool
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        """The entry as `slow_queries()` reports it."""
        return {
            "sql": self.sql,
            "duration_ms": round(self.duration_ms, 3),
            "failed": self.failed,
            "at": self.at.isoformat(),
        }


class QueryMonitor:
    """Count and time the statements of one database; keep the recent slow ones.

    `slow_query_ms=None` keeps no slow-query log (the counters still run).

    Raises:
        InvalidQueryError: `slow_query_ms` is negative or not a number, or `max_slow_queries`
            is below 1.
    """

    def __init__(self, *, slow_query_ms: float | None = 500.0, max_slow_queries: int = 100) -> None:
        self.slow_query_ms = _threshold(slow_query_ms)
        if isinstance(max_slow_queries, bool) or not isinstance(max_slow_queries, int):
            raise InvalidQueryError("max_slow_queries must be an integer")
        if max_slow_queries < 1:
            raise InvalidQueryError("max_slow_queries must be at least 1")
        self._slow: deque[SlowQuery] = deque(maxlen=max_slow_queries)
        # where this monitor notes a statement's start on its execution context
        self._started = f"_orm_monitor_started_{id(self):x}"
        self._engines: list[Engine] = []
        self.reset()

    @property
    def slow_query_ms(self) -> float | None:
        """Statements taking at least this many milliseconds are slow; None: none are."""
        return self._threshold

    @slow_query_ms.setter
    def slow_query_ms(self, value: float | None) -> None:
        self._threshold = _threshold(value)

    # -- the public figures ---------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Return totals since the last `reset()`; durations in milliseconds."""
        total = self._total
        return {
            "total_queries": total,
            "slow_queries": self._slow_count,
            "failed_queries": self._failed,
            "avg_duration_ms": round(self._sum_ms / total, 3) if total else 0.0,
            "max_duration_ms": round(self._max_ms, 3) if total else 0.0,
            "min_duration_ms": round(self._min_ms, 3) if total else 0.0,
        }

    def slow_queries(self, limit: int = 20) -> list[dict[str, Any]]:
        """Return up to `limit` recent slow statements, slowest first.

        Each entry holds `sql` (the statement with its placeholders, never the values),
        `duration_ms`, `failed` and `at` (UTC, ISO 8601).

        Raises:
            InvalidQueryError: `limit` is not a non-negative integer.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise InvalidQueryError("limit must be a non-negative integer")
        ranked = sorted(self._slow, key=lambda entry: entry.duration_ms, reverse=True)
        return [entry.as_dict() for entry in ranked[:limit]]

    def reset(self) -> None:
        """Forget every count, duration and slow statement recorded so far."""
        self._total = 0
        self._failed = 0
        self._slow_count = 0
        self._sum_ms = 0.0
        self._max_ms = 0.0
        self._min_ms = math.inf
        self._slow.clear()

    # -- engines --------------------------------------------------------------------------

    def attach(self, engine: AsyncEngine | Engine) -> None:
        """Listen to `engine`'s statements (once; engines derived from it follow)."""
        sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
        if any(sync is attached for attached in self._engines):
            return
        event.listen(sync, "before_cursor_execute", self._before)
        event.listen(sync, "after_cursor_execute", self._after)
        event.listen(sync, "handle_error", self._error)
        self._engines.append(sync)

    def detach(self) -> None:
        """Stop listening to every engine (the figures recorded so far stay)."""
        for sync in self._engines:
            event.remove(sync, "before_cursor_execute", self._before)
            event.remove(sync, "after_cursor_execute", self._after)
            event.remove(sync, "handle_error", self._error)
        self._engines.clear()

    # -- listeners: kept to a clock read and a few additions ------------------------------

    def _before(self, *args: Any) -> None:
        # (connection, cursor, statement, parameters, context, executemany)
        context = args[4]
        setattr(context, self._started, time.perf_counter())

    def _after(self, *args: Any) -> None:
        context = args[4]
        started = getattr(context, self._started, None)
        if started is not None:
            # an error while fetching rows is not a second statement
            setattr(context, self._started, None)
            self._record(time.perf_counter() - started, context, args[2], failed=False)

    def _error(self, exception_context: Any) -> None:
        context = exception_context.execution_context
        started = getattr(context, self._started, None) if context is not None else None
        if started is not None:
            setattr(context, self._started, None)
            sql = exception_context.statement or ""
            self._record(time.perf_counter() - started, context, sql, failed=True)

    def _record(self, seconds: float, context: Any, sql: str, *, failed: bool) -> None:
        elapsed_ms = seconds * 1000.0
        self._total += 1
        self._sum_ms += elapsed_ms
        if elapsed_ms > self._max_ms:
            self._max_ms = elapsed_ms
        if elapsed_ms < self._min_ms:
            self._min_ms = elapsed_ms
        if failed:
            self._failed += 1
        threshold = self._threshold
        if threshold is not None and elapsed_ms >= threshold:
            self._slow_count += 1
            entry = SlowQuery(_safe_sql(context, sql), elapsed_ms, failed, datetime.now(UTC))
            self._slow.append(entry)


def _threshold(value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise InvalidQueryError("slow_query_ms must be a number of milliseconds, or None")
    if value < 0:
        raise InvalidQueryError("slow_query_ms must not be negative")
    return float(value)


def _safe_sql(context: Any, sql: str) -> str:
    """The statement's text with placeholders only.

    A statement with values rendered inline at execution time (`literal_execute`, used
    for very long IN lists) is reported in its compiled form, where they are still
    placeholders.
    """
    compiled = getattr(context, "compiled", None)
    if compiled is not None and getattr(compiled, "literal_execute_params", None):
        sql = compiled.string
    if len(sql) > MAX_SQL_LENGTH:
        return sql[:MAX_SQL_LENGTH] + " …"
    return sql
