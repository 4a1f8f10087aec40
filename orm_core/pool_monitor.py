"""`PoolMonitor`: how busy a database's connection pool is, and how long callers wait for it.

The pool's own counters give its size, checked-out connections and overflow. What they
cannot tell — how often a caller found every connection taken, how often it gave up
after the pool timeout, how long a checkout took — is measured around the pool's
`connect()` (the one call every engine, session and derived engine checks a connection
out through), and the pool's `connect` event counts new database connections. The
timing wrapper is put back on the fresh pool an `engine.dispose()` creates.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

CHECKOUT_SAMPLES = 1000
"""Checkout times kept for the percentiles: the most recent ones, so memory stays bounded."""


class PoolMonitor:
    """Pool figures and checkout timings of one engine (and the engines derived from it)."""

    def __init__(self, *, samples: int = CHECKOUT_SAMPLES) -> None:
        self._times: deque[float] = deque(maxlen=samples)
        self._engine: Engine | None = None
        self._detached = False
        self.reset()

    def reset(self) -> None:
        """Forget the counted checkouts, waits, timeouts and timings."""
        self._checkouts = 0
        self._waits = 0
        self._timeouts = 0
        self._opened = 0
        self._times.clear()

    def attach(self, engine: AsyncEngine | Engine) -> None:
        """Measure `engine`'s pool from now on (one engine per monitor)."""
        sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
        if self._engine is sync and not self._detached:
            return
        if self._engine is not None and self._engine is not sync:
            raise RuntimeError("a PoolMonitor measures one engine")
        self._engine, self._detached = sync, False
        self._wrap(sync.pool)
        # pool events given to an engine go to its pool and survive dispose()
        event.listen(sync, "connect", self._connected)
        event.listen(sync, "engine_disposed", self._disposed)

    def detach(self) -> None:
        """Stop measuring: the pool's own figures are still reported, the counts stay."""
        sync = self._engine
        if sync is None:
            return
        vars(sync.pool).pop("connect", None)
        event.remove(sync, "connect", self._connected)
        event.remove(sync, "engine_disposed", self._disposed)
        self._detached = True

    # -- figures --------------------------------------------------------------------------

    def saturated(self) -> bool:
        """Whether every connection the pool may hold is checked out (a caller would wait)."""
        figures = _pool_figures(self._pool())
        capacity = figures["capacity"]
        return capacity is not None and figures["checked_out"] >= capacity

    def metrics(self) -> dict[str, Any]:
        """Return the pool's figures, counted waits and timeouts, and checkout percentiles."""
        figures = _pool_figures(self._pool())
        capacity = figures["capacity"]
        checked_out = figures["checked_out"]
        times = sorted(self._times)
        return {
            **figures,
            "utilisation": round(checked_out / capacity, 3) if capacity else None,
            "saturated": capacity is not None and checked_out >= capacity,
            "checkouts": self._checkouts,
            "checkout_waits": self._waits,
            "checkout_timeouts": self._timeouts,
            "connections_opened": self._opened,
            "checkout_time_p50_ms": _percentile(times, 0.50),
            "checkout_time_p95_ms": _percentile(times, 0.95),
        }

    # -- measuring ------------------------------------------------------------------------

    def _pool(self) -> Any:
        return self._engine.pool if self._engine is not None else None

    def _wrap(self, pool: Any) -> None:
        checkout: Callable[[], Any] = pool.connect
        capacity = _pool_figures(pool)["capacity"]

        def timed_connect() -> Any:
            # a caller waits when every connection the pool may hold is checked out
            waits = capacity is not None and pool.checkedout() >= capacity
            started = time.perf_counter()
            try:
                return checkout()
            except sa_exc.TimeoutError:
                self._timeouts += 1
                raise
            finally:
                self._times.append((time.perf_counter() - started) * 1000.0)
                self._checkouts += 1
                if waits:
                    self._waits += 1

        # an instance attribute: engines and their derived engines all call pool.connect()
        vars(pool)["connect"] = timed_connect

    def _connected(self, _dbapi_connection: Any, _record: Any) -> None:
        self._opened += 1

    def _disposed(self, engine: Engine) -> None:
        self._wrap(engine.pool)


def _pool_figures(pool: Any) -> dict[str, Any]:
    """Size, checked-out, checked-in, overflow in use and capacity of a (queue) pool."""

    def figure(name: str) -> int:
        getter = getattr(pool, name, None)
        return int(getter()) if callable(getter) else 0

    size = figure("size")
    # QueuePool keeps no public accessor for its overflow limit; -1 means unlimited
    max_overflow = getattr(pool, "_max_overflow", None)
    bounded = size > 0 and isinstance(max_overflow, int) and max_overflow >= 0
    return {
        "pool_size": size,
        "max_overflow": max_overflow if isinstance(max_overflow, int) else None,
        "checked_out": figure("checkedout"),
        "checked_in": figure("checkedin"),
        "overflow": max(figure("overflow"), 0),
        "capacity": size + max_overflow if bounded else None,  # type: ignore[operator]
    }


def _percentile(ordered: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending list; None when it is empty."""
    if not ordered:
        return None
    rank = max(math.ceil(fraction * len(ordered)), 1)
    return round(ordered[rank - 1], 3)
