"""Readiness: can this process serve database work right now, answered without queueing.

A readiness probe must answer within its own deadline even when the application is
busy. So a pool whose every connection is checked out is reported as "saturated" at
once (the database may be fine; the process is at capacity), and otherwise one ping on
a fresh checkout gets a short timeout of its own instead of the pool's.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from orm_core.errors import InvalidQueryError

if TYPE_CHECKING:
    from orm_core.database import Database

READINESS_TIMEOUT_S = 2.0
"""How long a readiness ping may take before the database is reported unhealthy."""


async def readiness(
    database: Database, *, ping_timeout: float = READINESS_TIMEOUT_S
) -> dict[str, Any]:
    """Report `healthy`, `saturated` or `unhealthy`, the time taken and the pool's figures.

    The report holds no URL, host, user or password.

    Raises:
        InvalidQueryError: `ping_timeout` is not a positive number of seconds.
    """
    if isinstance(ping_timeout, bool) or not isinstance(ping_timeout, int | float):
        raise InvalidQueryError("ping_timeout must be a number of seconds")
    if not ping_timeout > 0:
        raise InvalidQueryError("ping_timeout must be positive")
    started = time.perf_counter()
    if database.pool_monitor.saturated():
        status = "saturated"
    else:
        try:
            async with asyncio.timeout(ping_timeout):
                healthy = await database.ping()
        except TimeoutError:
            # the pool may have filled up while the ping waited for a connection
            healthy = False
        if healthy:
            status = "healthy"
        else:
            status = "saturated" if database.pool_monitor.saturated() else "unhealthy"
    return {
        "status": status,
        "response_time_ms": round((time.perf_counter() - started) * 1000.0, 3),
        "pool": database.pool_status(),
    }
