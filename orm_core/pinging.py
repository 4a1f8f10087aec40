"""Check a pooled PostgreSQL connection before handing it out, when it may have died idle.

SQLAlchemy's `pool_pre_ping` pings at every checkout, and on asyncpg its ping is three round
trips (`BEGIN`, `;`, `ROLLBACK`): as many as a one-statement unit of work's own. A connection
that went back to the pool a moment ago is alive with near certainty, so only a connection
idle for longer than `IDLE_BEFORE_PING` seconds is pinged (the rule of HikariCP's bypass
window), with one `SELECT 1` in the simple protocol (no prepared statement), which
PgBouncer's transaction pooling accepts too. (An empty query would be one byte less, but
asyncpg fails on the empty command status the server answers it with: every ping would
fail and replace a live connection.) A connection that fails the ping is replaced: the
pool discards it and connects again.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine

IDLE_BEFORE_PING = 0.5
_RETURNED_AT = "orm_returned_at"
_PING = "SELECT 1"


def install_idle_ping(engine: AsyncEngine, idle: float | None = None) -> None:
    """Ping a connection at checkout when it sat in the pool for more than `idle` seconds
    (`IDLE_BEFORE_PING` unless given)."""
    sync = engine.sync_engine
    idle = IDLE_BEFORE_PING if idle is None else idle

    @event.listens_for(sync, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(sync, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        returned = record.info.get(_RETURNED_AT)
        if returned is None or time.monotonic() - returned <= idle:
            return  # connected just now, or used a moment ago
        try:
            dbapi_connection.run_async(lambda driver: driver.execute(_PING))
        except Exception as exc:
            raise DisconnectionError("a pooled connection failed its ping") from exc
