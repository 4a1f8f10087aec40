"""`Database`: the engine, the session factory, health checks and raw SQL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import MetaData, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from orm_core.caching.base import Cache, check_cache
from orm_core.caching.policy import DATABASE_KEY
from orm_core.circuit_breaker import CircuitBreaker
from orm_core.connecting import connection_options
from orm_core.dialects import Backend, backend_class, backend_of
from orm_core.errors import InvalidQueryError
from orm_core.monitor import QueryMonitor
from orm_core.pool_monitor import PoolMonitor
from orm_core.readiness import READINESS_TIMEOUT_S, readiness
from orm_core.replicas import DEFAULT_BACKOFF, ReplicaSet
from orm_core.resilience import guard_connections
from orm_core.session import OrmSession
from orm_core.tenancy import check_schema
from orm_core.timeouts import NO_TIMEOUTS, Timeouts, check_timeouts
from orm_core.translate import translating

# engine variants kept per database (isolation, read-only, schema, timeouts); a pool is shared
_MAX_VARIANTS = 256


class Database:
    """Own one async engine and its session factory.

    Example:
        db = Database("sqlite+aiosqlite:///./app.db")
        await db.create_all(Base.metadata)
        async with db.session() as session:
            ...
        await db.dispose()

    SQLite connections get foreign keys, WAL and a busy timeout; write transactions
    start with `BEGIN IMMEDIATE` so two writers queue instead of failing with
    "database is locked" when a reader upgrades to a writer.

    `connect_retries` and `circuit_breaker` guard the opening of new connections
    (`orm_core.resilience`): retries with backoff, and failing fast while it is down.
    `monitor` counts and times every statement (those taking `slow_query_ms` or more are
    kept as slow queries) and `pool_monitor` measures the pool's checkouts.
    `replicas` are PostgreSQL streaming standbys (URLs) that read-only units of work read
    from; a replica that fails is set aside for `replica_backoff` seconds (docs/replicas.md).
    """

    def __init__(
        self,
        url: str | URL,
        *,
        echo: bool = False,
        connect_retries: int = 0,
        circuit_breaker: CircuitBreaker | None = None,
        pool_size: int | None = None,
        max_overflow: int | None = None,
        pool_timeout: float = 30.0,
        statement_timeout: float | None = None,
        lock_timeout: float | None = None,
        pgbouncer: bool | None = None,
        slow_query_ms: float | None = 500.0,
        cache: Cache | None = None,
        replicas: str | Iterable[str | URL] = (),
        replica_backoff: float = DEFAULT_BACKOFF,
        **engine_options: Any,
    ) -> None:
        self.monitor = QueryMonitor(slow_query_ms=slow_query_ms)
        self.pool_monitor = PoolMonitor()
        self.url = make_url(url)
        self.cache = check_cache(cache)
        self.timeouts = check_timeouts(statement_timeout, lock_timeout)
        options: dict[str, Any] = {"echo": echo, **engine_options}
        connect_url, options, self.pgbouncer = connection_options(self.url, options, pgbouncer)
        if pool_size is not None:
            options["pool_size"] = pool_size
        if max_overflow is not None:
            options["max_overflow"] = max_overflow
        options.setdefault("pool_timeout", pool_timeout)
        # statement parameters (password hashes, tokens) stay out of logs and error text
        options.setdefault("hide_parameters", True)
        kind = backend_class(self.url.get_backend_name())
        options = kind.engine_options(options, pool_size_given=pool_size is not None)
        # PgBouncer refuses timeouts as startup parameters: each transaction sets them
        options = kind.timeout_options(options, NO_TIMEOUTS if self.pgbouncer else self.timeouts)
        self.engine: AsyncEngine = create_async_engine(connect_url, **options)
        # new connections: retried with backoff, behind the breaker (orm_core.resilience)
        self.circuit_breaker = circuit_breaker
        guard_connections(self.engine, retries=connect_retries, breaker=circuit_breaker)
        self.backend: Backend = backend_of(self.engine.dialect)
        self.backend.pgbouncer = self.pgbouncer
        self.backend.install(self.engine, self.timeouts)
        self.monitor.attach(self.engine)  # the engines engine_for derives share its listeners
        self.pool_monitor.attach(self.engine)
        self.session_factory: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine,
            expire_on_commit=False,
            autoflush=True,
            sync_session_class=OrmSession,
            info={DATABASE_KEY: self},  # how a session finds its database's cache
        )
        self._engines: dict[tuple[Any, ...], AsyncEngine] = {}
        # -- read replicas (orm_core.replicas): an engine per standby, same options --
        self.replicas = ReplicaSet.create(self, replicas, options, backoff=replica_backoff)

    @property
    def dialect(self) -> str:
        """The dialect name: `sqlite`, `postgresql`, `mysql` or `mariadb`."""
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        """Whether the URL points at SQLite."""
        return self.url.get_backend_name() == "sqlite"

    def engine_for(
        self,
        *,
        isolation_level: str | None = None,
        read_only: bool = False,
        schema: str | None = None,
        timeouts: Timeouts = NO_TIMEOUTS,
    ) -> AsyncEngine:
        """Return an engine sharing this pool whose transactions use the given settings.

        `schema` runs every statement against that schema (tables declared without one);
        `timeouts` override the database's for each transaction.
        """
        if isolation_level is None and not read_only and schema is None and not timeouts.any:
            return self.engine
        key = (isolation_level, read_only, schema, timeouts)
        engine = self._engines.get(key)
        if engine is None:
            if len(self._engines) >= _MAX_VARIANTS:
                self._engines.clear()
            options = self.backend.transaction_options(
                isolation_level=isolation_level, read_only=read_only, timeouts=timeouts
            )
            if schema is not None:
                options["schema_translate_map"] = {None: schema}
            engine = self._engines[key] = self.engine.execution_options(**options)
        return engine

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """Open a session (`expire_on_commit=False`) and close it afterwards."""
        async with self.session_factory() as session:
            yield session

    async def create_all(self, metadata: MetaData, *, schema: str | None = None) -> None:
        """Create every table of `metadata` that does not exist yet.

        With `schema` (PostgreSQL, schema per tenant), the schema is created first and the
        tables declared without a schema are created in it.
        """
        schema = check_schema(schema)
        async with self.engine_for(schema=schema).begin() as conn:
            if schema is not None:
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await conn.run_sync(metadata.create_all)

    async def drop_all(self, metadata: MetaData, *, schema: str | None = None) -> None:
        """Drop every table of `metadata` (in `schema`, when given)."""
        async with self.engine_for(schema=check_schema(schema)).begin() as conn:
            await conn.run_sync(metadata.drop_all)

    async def ping(self) -> bool:
        """Return whether a trivial query succeeds; never raises."""
        try:
            async with self.engine_for(read_only=True).connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def health_check(self) -> dict[str, Any]:
        """Report status, round-trip time, dialect, masked URL and pool figures.

        With read replicas, `replicas` lists `{"index", "status", "lag_seconds"}` for each.
        """
        started = time.perf_counter()
        healthy = await self.ping()
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        report: dict[str, Any] = {
            "status": "healthy" if healthy else "unhealthy",
            "response_time_ms": round(elapsed_ms, 3),
            "dialect": self.dialect,
            "database_url": self.url.render_as_string(hide_password=True),
            "pool": self.pool_status(),
        }
        # -- read replicas: each one's status and lag, never its URL --
        if self.replicas:
            report["replicas"] = await self.replicas.health()
        return report

    def pool_status(self) -> dict[str, int]:
        """Return the pool's size, checked-out, checked-in and overflow counts."""
        pool: Any = self.engine.pool
        figures = {
            "pool_size": "size",
            "checked_out": "checkedout",
            "checked_in": "checkedin",
            "overflow": "overflow",
        }
        status: dict[str, int] = {}
        for key, method in figures.items():
            getter = getattr(pool, method, None)
            status[key] = int(getter()) if callable(getter) else 0
        return status

    def pool_metrics(self) -> dict[str, Any]:
        """Return pool size, checked out, overflow, utilisation, saturation and checkout times."""
        return self.pool_monitor.metrics()

    async def readiness(self, *, ping_timeout: float = READINESS_TIMEOUT_S) -> dict[str, Any]:
        """Report `healthy`, `saturated` or `unhealthy` without queueing behind a busy pool."""
        return await readiness(self, ping_timeout=ping_timeout)

    async def fetch_all(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run a read query with bound parameters and return every row as a dict."""
        statement = _checked_sql(sql, params)
        with translating():
            async with self.engine_for(read_only=True).connect() as conn:
                result = await conn.execute(statement, dict(params or {}))
                return [dict(row) for row in result.mappings()]

    async def fetch_one(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Run a read query with bound parameters and return its first row, or None."""
        statement = _checked_sql(sql, params)
        with translating():
            async with self.engine_for(read_only=True).connect() as conn:
                row = (await conn.execute(statement, dict(params or {}))).mappings().first()
        return dict(row) if row is not None else None

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement with bound parameters in its own transaction; return the rowcount."""
        statement = _checked_sql(sql, params)
        with translating():
            async with self.engine.begin() as conn:
                result = await conn.execute(statement, dict(params or {}))
                return int(result.rowcount)

    async def dispose(self) -> None:
        """Close every pooled connection, and the cache's connections."""
        await self.engine.dispose()
        if self.cache is not None:
            await self.cache.close()
        await self.replicas.dispose()  # read replicas

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"


def _checked_sql(sql: str, params: Mapping[str, Any] | None) -> Any:
    if not isinstance(sql, str):
        raise InvalidQueryError("sql must be a string with :name placeholders")
    if params is not None and not isinstance(params, Mapping):
        raise InvalidQueryError("params must be a mapping of bound parameter values")
    return text(sql)
