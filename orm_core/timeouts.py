"""Statement and lock timeouts, on each backend's own mechanism.

A `Database` carries default timeouts and a unit of work may override them (its engine
variant holds them as an execution option). PostgreSQL gets the defaults as connection
settings (`statement_timeout`, `lock_timeout`) and a unit's own with `set_config(...,
true)` at the start of its transaction. SQLite's lock timeout is its busy timeout; its
statement timeout is a progress handler interrupting a statement past its deadline.
Exceeding either surfaces as `QueryTimeoutError` (see `orm_core.translate`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util.concurrency import await_

from orm_core.errors import InvalidQueryError

TIMEOUTS_OPTION = "orm_timeouts"
# how often (in SQLite VM instructions) the progress handler looks at the clock
_PROGRESS_STEPS = 10_000
_DEADLINE_KEY = "orm_deadline"
_BUSY_KEY = "orm_busy_ms"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds a statement may run and a lock may be waited for (None: no limit set)."""

    statement: float | None = None
    lock: float | None = None

    @property
    def any(self) -> bool:
        """Whether either timeout is set."""
        return self.statement is not None or self.lock is not None

    def over(self, defaults: Timeouts) -> Timeouts:
        """These timeouts, falling back to `defaults` where unset."""
        if not defaults.any:
            return self
        return Timeouts(
            self.statement if self.statement is not None else defaults.statement,
            self.lock if self.lock is not None else defaults.lock,
        )


NO_TIMEOUTS = Timeouts()


def check_timeouts(statement_timeout: Any, lock_timeout: Any) -> Timeouts:
    """Check timeouts given in seconds.

    Raises:
        InvalidQueryError: a timeout that is not a positive, finite number of seconds.
    """
    for name, value in (("statement_timeout", statement_timeout), ("lock_timeout", lock_timeout)):
        if value is None:
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or value <= 0:
            raise InvalidQueryError(
                f"{name} must be a positive number of seconds or None", {name: repr(value)}
            )
    if statement_timeout is None and lock_timeout is None:
        return NO_TIMEOUTS
    return Timeouts(statement_timeout, lock_timeout)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


# -- PostgreSQL ---------------------------------------------------------------------------


def postgres_settings(timeouts: Timeouts) -> dict[str, str]:
    """The connection settings carrying a database's default timeouts (milliseconds)."""
    settings = {}
    if timeouts.statement is not None:
        settings["statement_timeout"] = str(_ms(timeouts.statement))
    if timeouts.lock is not None:
        settings["lock_timeout"] = str(_ms(timeouts.lock))
    return settings


def install_postgres(engine: AsyncEngine, defaults: Timeouts) -> None:
    """Give each transaction its unit's timeouts, else `defaults` (SET LOCAL).

    `defaults` are the database's own when no connection setting can carry them
    (PgBouncer), else none: the connection settings already do.
    """

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        timeouts = _timeouts_of(conn).over(defaults)
        if not timeouts.any:
            return
        statement = str(_ms(timeouts.statement)) if timeouts.statement is not None else None
        lock = str(_ms(timeouts.lock)) if timeouts.lock is not None else None
        conn.execute(
            text(
                "SELECT set_config('statement_timeout', "
                "coalesce(:statement, current_setting('statement_timeout')), true), "
                "set_config('lock_timeout', coalesce(:lock, current_setting('lock_timeout')), true)"
            ),
            {"statement": statement, "lock": lock},
        )


def mysql_init_command(timeouts: Timeouts) -> str | None:
    """The session setting carrying a database's lock timeout on MySQL/MariaDB (whole seconds).

    Raises:
        InvalidQueryError: a statement timeout (MySQL and MariaDB spell it differently and
            MySQL's covers reads only; it is not offered there).
    """
    if timeouts.statement is not None:
        raise InvalidQueryError("statement_timeout is supported on PostgreSQL and SQLite only")
    if timeouts.lock is None:
        return None
    return f"SET SESSION innodb_lock_wait_timeout={max(1, math.ceil(timeouts.lock))}"


# -- SQLite -------------------------------------------------------------------------------


def install_sqlite(engine: AsyncEngine, defaults: Timeouts, busy_default: float) -> int:
    """Busy timeout and a deadline per statement on every connection; returns the busy ms.

    Call `sqlite_busy_timeout` before each BEGIN so a unit's own lock timeout applies.
    """
    default_busy = _ms(defaults.lock if defaults.lock is not None else busy_default)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        info = record.info
        info[_DEADLINE_KEY] = [None]
        deadline = info[_DEADLINE_KEY]

        def interrupt_when_late() -> int:
            due = deadline[0]
            return 1 if due is not None and time.monotonic() > due else 0

        driver = dbapi_connection._connection
        await_(driver.set_progress_handler(interrupt_when_late, _PROGRESS_STEPS))
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={default_busy}")
        cursor.close()
        info[_BUSY_KEY] = default_busy

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _start_clock(conn: Connection, *_args: Any) -> None:
        timeouts = _timeouts_of(conn).over(defaults)
        if timeouts.statement is not None:
            deadline = conn.info.get(_DEADLINE_KEY)
            if deadline is not None:
                deadline[0] = time.monotonic() + timeouts.statement

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _stop_clock(conn: Connection, *_args: Any) -> None:
        deadline = conn.info.get(_DEADLINE_KEY)
        if deadline is not None:
            deadline[0] = None

    @event.listens_for(engine.sync_engine, "handle_error")
    def _stop_clock_on_error(context: Any) -> None:
        connection = context.connection
        deadline = connection.info.get(_DEADLINE_KEY) if connection is not None else None
        if deadline is not None:
            deadline[0] = None

    return default_busy


def sqlite_busy_timeout(conn: Connection, default_busy: int) -> None:
    """Set the connection's busy timeout to what this transaction asks for, before BEGIN."""
    wanted = _timeouts_of(conn).lock
    busy = _ms(wanted) if wanted is not None else default_busy
    if conn.info.get(_BUSY_KEY) == busy:
        return
    conn.exec_driver_sql(f"PRAGMA busy_timeout={int(busy)}")
    conn.info[_BUSY_KEY] = busy


def _timeouts_of(conn: Connection) -> Timeouts:
    found = conn.get_execution_options().get(TIMEOUTS_OPTION)
    return found if isinstance(found, Timeouts) else NO_TIMEOUTS
