"""Read replicas of a `Database`: their engines, whose turn it is, which are set aside, health.

A `Database` built with `replicas=` holds a `ReplicaSet`: one engine per PostgreSQL
streaming standby, with the primary's engine options and hooks. Where a unit of work
reads, and how commits are tracked for read-your-writes, is `orm_core.read_routing`.

Replica engines do without the pool's pre-ping: the check a unit of work runs first on
its replica connection (`read_routing`) is the liveness test, so a replica read costs no
more round trips than a primary one.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from orm_core.connecting import connection_options
from orm_core.consistency import page_start, parse_lsn
from orm_core.errors import InvalidQueryError
from orm_core.translate import is_disconnect

if TYPE_CHECKING:
    from orm_core.database import Database

logger = logging.getLogger(__name__)

DEFAULT_BACKOFF = 30.0
# seconds to wait for a replica's connection (asyncpg's default is a minute)
CONNECT_TIMEOUT = 5.0
HEALTH_TIMEOUT = 5.0
_MAX_VARIANTS = 256
ResultT = TypeVar("ResultT")

_POSITION = text("SELECT pg_current_wal_insert_lsn()::text")
_GEOMETRY = text(
    "SELECT current_setting('wal_block_size')::int,"
    " (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size')"
)
# lag: 0 once replay caught up with what was received, else the last replayed commit's age
_HEALTH = text(
    "SELECT pg_is_in_recovery(),"
    " CASE WHEN pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn() THEN 0"
    " ELSE greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp())) END"
)
_keys = itertools.count(1)


@dataclass(eq=False)
class Replica:
    """One standby: its engine, and until when it is set aside after a failure."""

    index: int
    engine: AsyncEngine
    set_aside_until: float = 0.0
    _variants: dict[int, tuple[AsyncEngine, AsyncEngine]] = field(default_factory=dict)

    def variant(self, primary_variant: AsyncEngine) -> AsyncEngine:
        """This replica's engine with the execution options of a variant of the primary's."""
        found = self._variants.get(id(primary_variant))
        if found is not None and found[0] is primary_variant:
            return found[1]
        if len(self._variants) >= _MAX_VARIANTS:
            self._variants.clear()
        options = primary_variant.get_execution_options()
        engine = self.engine.execution_options(**options) if options else self.engine
        self._variants[id(primary_variant)] = (primary_variant, engine)
        return engine


class ReplicaSet:
    """The read replicas of one `Database`, taking turns among those not set aside."""

    def __init__(self, replicas: list[Replica], primary: AsyncEngine, *, backoff: float) -> None:
        self.key = next(_keys)  # this database's entry in the read-your-writes positions
        self.backoff = backoff
        self.replicas = replicas
        self._primary = primary.execution_options(isolation_level="AUTOCOMMIT")
        self._turn = itertools.count()
        self._geometry: tuple[int, int] | None = None

    @classmethod
    def create(
        cls, database: Database, urls: Any, options: dict[str, Any], *, backoff: Any
    ) -> ReplicaSet:
        """Build an engine per replica URL with the primary's options and hooks.

        Raises:
            InvalidQueryError: a bad URL, a backend other than the primary's PostgreSQL,
                or a backoff that is not a non-negative number of seconds.
        """
        number = isinstance(backoff, int | float) and not isinstance(backoff, bool)
        if not number or not math.isfinite(backoff) or backoff < 0:
            raise InvalidQueryError(
                "replica_backoff must be a non-negative number of seconds",
                {"replica_backoff": repr(backoff)},
            )
        parsed = replica_urls(urls)
        if parsed and database.url.get_backend_name() != "postgresql":
            raise InvalidQueryError("read replicas need a PostgreSQL primary")
        replicas = []
        for index, url in enumerate(parsed):
            if url.get_backend_name() != "postgresql":
                raise InvalidQueryError(
                    "every replica must be a PostgreSQL standby", {"replica": index}
                )
            # the primary's connection rules (PgBouncer, URL numbers) apply to standbys too
            url, own, _ = connection_options(url, options, database.pgbouncer)
            engine = create_async_engine(url, **_replica_options(url, own))
            database.backend.install(engine, database.timeouts)
            database.monitor.attach(engine)  # no retries or breaker: a failing one is set aside
            replicas.append(Replica(index, engine))
        return cls(replicas, database.engine, backoff=float(backoff))

    def __len__(self) -> int:
        return len(self.replicas)

    def __bool__(self) -> bool:
        return bool(self.replicas)

    def candidates(self) -> list[Replica]:
        """The replicas not set aside, the one whose turn it is first."""
        now = time.monotonic()
        ready = [r for r in self.replicas if r.set_aside_until <= now]
        if not ready:
            return []
        start = next(self._turn) % len(ready)
        return ready[start:] + ready[:start]

    def set_aside(self, replica: Replica, reason: str) -> None:
        """Route no reads to `replica` for the backoff period."""
        replica.set_aside_until = time.monotonic() + self.backoff
        logger.warning(
            "read replica %d set aside for %.1f s: %s", replica.index, self.backoff, reason
        )

    async def commit_position(self) -> int:
        """The primary's WAL position now: at or past the end of every commit that returned."""
        async with self._primary.connect() as conn:
            if self._geometry is None:
                block, segment = (await conn.execute(_GEOMETRY)).one()
                self._geometry = (int(block), int(segment))
            position = parse_lsn(await conn.scalar(_POSITION))
        block, segment = self._geometry
        return page_start(position, block_size=block, segment_size=segment)

    async def health(self) -> list[dict[str, Any]]:
        """`{"index", "status", "lag_seconds"}` per replica; never its URL."""
        return list(await asyncio.gather(*(_probe(r) for r in self.replicas)))

    async def dispose(self) -> None:
        """Close every replica's pooled connections."""
        for replica in self.replicas:
            await replica.engine.dispose()


def replica_urls(urls: Any) -> list[URL]:
    """The replica URLs given as URLs, strings, or one comma-separated string.

    Raises:
        InvalidQueryError: a value that is not a database URL.
    """
    if urls is None:
        return []
    if isinstance(urls, str):
        urls = [u for u in (part.strip() for part in urls.split(",")) if u]
    elif isinstance(urls, URL) or not isinstance(urls, Iterable):
        urls = [urls]
    parsed = []
    for index, url in enumerate(urls):
        try:
            parsed.append(make_url(url))
        except (ArgumentError, TypeError, ValueError) as exc:
            raise InvalidQueryError("a replica is not a database URL", {"replica": index}) from exc
    return parsed


async def retrying_stale(attempt: Callable[[], Awaitable[ResultT]]) -> ResultT:
    """Run `attempt` again once if it met a pooled connection the server had dropped.

    Replica pools skip the pre-ping; SQLAlchemy invalidates the pool when it sees a
    disconnect, so the second attempt gets a fresh connection.
    """
    try:
        return await attempt()
    except Exception as exc:
        if not is_disconnect(exc):
            raise
    return await attempt()


def _replica_options(url: URL, options: dict[str, Any]) -> dict[str, Any]:
    replica = {**options, "pool_pre_ping": False}
    if url.get_driver_name() == "asyncpg":
        connect_args = dict(replica.get("connect_args", {}))
        connect_args.setdefault("timeout", CONNECT_TIMEOUT)
        replica["connect_args"] = connect_args
    return replica


async def _probe(replica: Replica) -> dict[str, Any]:
    report: dict[str, Any] = {"index": replica.index, "status": "unhealthy", "lag_seconds": None}
    engine = replica.engine.execution_options(isolation_level="AUTOCOMMIT")

    async def ask() -> tuple[Any, Any]:
        conn: AsyncConnection
        async with engine.connect() as conn:
            in_recovery, lag = (await conn.execute(_HEALTH)).one()
        return in_recovery, lag

    try:
        async with asyncio.timeout(HEALTH_TIMEOUT):
            in_recovery, lag = await retrying_stale(ask)
    except Exception:
        logger.debug("health probe of read replica %d failed", replica.index, exc_info=True)
        return report
    if not in_recovery:
        report["status"] = "promoted"
        return report
    report["status"] = "healthy"
    report["lag_seconds"] = float(lag) if lag is not None else None
    return report
