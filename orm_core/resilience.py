"""Connection retries with backoff, and the circuit breaker, at the one place connections open.

`guard_connections` hooks SQLAlchemy's documented `do_connect` dialect event, which
runs each time the pool opens a new DBAPI connection, so retrying never repeats a
statement nor reconnects a transaction that already holds a connection: the
connection a transaction lost stays lost (the statement fails), and only the next
checkout opens, and may retry, a new one.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_only

from orm_core.circuit_breaker import CircuitBreaker
from orm_core.errors import InvalidQueryError

logger = logging.getLogger(__name__)

CONNECT_BASE_DELAY_S = 0.1
CONNECT_MAX_DELAY_S = 2.0

# SQLSTATEs a server answers with while it cannot take a connection *yet*: starting up or
# shutting down, and too many connections; class 08 (connection exception) is added below.
_TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def check_connect_retries(retries: object) -> int:
    """Return `retries` if it is a valid retry count (an integer of at least 0).

    Raises:
        InvalidQueryError: anything else.
    """
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InvalidQueryError("connect_retries must be an integer of at least 0")
    return retries


def guard_connections(engine: AsyncEngine, *, retries: int, breaker: CircuitBreaker | None) -> None:
    """Retry the new connections `engine`'s pool opens, and put `breaker` in front of them.

    Each attempt first asks the breaker (open: fail fast, no attempt); a failure
    that can heal (refused, reset, DNS, timeout, server starting up, an unopenable
    SQLite file) counts against it and, while retries remain, is tried again after
    `connect_delay(n)`. Bad credentials or an unknown database propagate at once.
    Nothing is installed when there is neither a retry nor a breaker.

    Raises:
        InvalidQueryError: `retries` is not an integer of at least 0, or `breaker` is
            not a `CircuitBreaker`.
    """
    retries = check_connect_retries(retries)
    if breaker is not None and not isinstance(breaker, CircuitBreaker):
        raise InvalidQueryError("circuit_breaker must be a CircuitBreaker")
    if retries == 0 and breaker is None:
        return

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(
        dialect: Dialect,
        _record: ConnectionPoolEntry,
        cargs: list[Any],
        cparams: dict[str, Any],
    ) -> Any:
        return _connect_guarded(dialect, cargs, cparams, retries=retries, breaker=breaker)


def _connect_guarded(
    dialect: Dialect,
    cargs: list[Any],
    cparams: dict[str, Any],
    *,
    retries: int,
    breaker: CircuitBreaker | None,
) -> Any:
    attempt = 0
    while True:
        try:
            return _attempt(dialect, cargs, cparams, breaker)
        except Exception as exc:
            # an open breaker's DatabaseUnavailableError is not transient: it stops here
            if attempt >= retries or not is_transient_connect_error(exc):
                raise
            failure = type(exc).__name__  # its text may name the host: keep it out of logs
        attempt += 1
        delay = connect_delay(attempt)
        logger.warning(
            "connecting to the database failed (%s); retry %d of %d in %.2fs",
            failure,
            attempt,
            retries,
            delay,
        )
        _sleep(delay)


def _attempt(
    dialect: Dialect, cargs: list[Any], cparams: dict[str, Any], breaker: CircuitBreaker | None
) -> Any:
    """Open one connection, asking the breaker first and telling it the outcome."""
    if breaker is None:
        return dialect.connect(*cargs, **cparams)
    breaker.before_attempt()
    try:
        connection = dialect.connect(*cargs, **cparams)
    except Exception as exc:
        if is_transient_connect_error(exc):
            breaker.record_failure()
        else:
            breaker.release()
        raise
    except BaseException:
        breaker.release()  # cancelled: no verdict, and the half-open trial slot is freed
        raise
    breaker.record_success()
    return connection


def connect_delay(attempt: int) -> float:
    """The pause before retry number `attempt` (1, 2, …): exponential, capped, jittered.

    The nominal delay doubles from `CONNECT_BASE_DELAY_S` up to `CONNECT_MAX_DELAY_S`;
    the pause is drawn between half of it and all of it, so clients that failed
    together spread out while the retry budget keeps a known floor.
    """
    nominal = min(CONNECT_MAX_DELAY_S, CONNECT_BASE_DELAY_S * 2 ** (attempt - 1))
    return random.uniform(nominal / 2, nominal)


def is_transient_connect_error(exc: BaseException) -> bool:
    """Tell whether a failed connection attempt may succeed if tried again later."""
    if isinstance(exc, OSError | TimeoutError | asyncio.IncompleteReadError):
        # refused, reset, unreachable, DNS failure (socket.gaierror), connect timeout
        return True
    for candidate in (exc, exc.__cause__):
        state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(state, str):
            return state.startswith("08") or state in _TRANSIENT_SQLSTATES
        if isinstance(candidate, OSError | TimeoutError):
            return True
    # SQLite: the file cannot be opened (its directory is missing or not mounted yet)
    name = str(getattr(exc, "sqlite_errorname", ""))
    return name.startswith("SQLITE_CANTOPEN") or "unable to open database file" in str(exc)


def _sleep(delay: float) -> None:
    # the pool opens connections in SQLAlchemy's greenlet bridge: await the event loop's
    # sleep there, so other tasks run meanwhile; outside it (a sync engine) block
    try:
        await_only(asyncio.sleep(delay))
    except sa_exc.MissingGreenlet:
        time.sleep(delay)
