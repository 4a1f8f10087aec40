"""The pool monitor and readiness: figures, waits, timeouts, checkout times, saturation."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from orm_core import Database, DatabaseUnavailableError, InvalidQueryError, UnitOfWork

METRIC_KEYS = {
    "pool_size",
    "max_overflow",
    "checked_out",
    "checked_in",
    "overflow",
    "capacity",
    "utilisation",
    "saturated",
    "checkouts",
    "checkout_waits",
    "checkout_timeouts",
    "connections_opened",
    "checkout_time_p50_ms",
    "checkout_time_p95_ms",
}


@pytest.fixture
async def small(database: Database) -> AsyncIterator[Database]:
    """A database on the same backend whose pool holds two connections and no overflow."""
    db = Database(database.url, pool_size=2, max_overflow=0, pool_timeout=0.3)
    yield db
    await db.dispose()


@contextlib.asynccontextmanager
async def held(db: Database, count: int) -> AsyncIterator[None]:
    """Keep `count` pooled connections checked out for the duration of the block."""
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(count):
            # read-only: two SQLite writers would queue on the write lock
            conn = await stack.enter_async_context(db.engine_for(read_only=True).connect())
            await conn.exec_driver_sql("SELECT 1")
        yield


async def test_metrics_report_the_pool_and_its_checkouts(small):
    metrics = small.pool_metrics()
    assert set(metrics) == METRIC_KEYS
    assert metrics["checkouts"] == 0 and metrics["checkout_time_p50_ms"] is None
    for _ in range(4):
        await small.fetch_all("SELECT 1")
    metrics = small.pool_metrics()
    assert metrics["pool_size"] == 2 and metrics["max_overflow"] == 0
    assert metrics["capacity"] == 2 and metrics["checked_out"] == 0
    assert metrics["utilisation"] == 0.0 and metrics["saturated"] is False
    assert metrics["checkouts"] == 4 and metrics["connections_opened"] == 1
    assert metrics["checkout_waits"] == 0 and metrics["checkout_timeouts"] == 0
    assert 0 <= metrics["checkout_time_p50_ms"] <= metrics["checkout_time_p95_ms"]


async def test_a_full_pool_is_saturated_and_counts_waits_and_timeouts(small):
    async with held(small, 1):
        metrics = small.pool_metrics()
        assert metrics["checked_out"] == 1 and metrics["utilisation"] == 0.5
        assert metrics["saturated"] is False
    async with held(small, 2):
        metrics = small.pool_metrics()
        assert metrics["utilisation"] == 1.0 and metrics["saturated"] is True
        started = time.perf_counter()
        with pytest.raises(DatabaseUnavailableError):
            async with UnitOfWork(small) as uow:
                await uow.session.connection()
        assert 0.25 < time.perf_counter() - started < 2
    metrics = small.pool_metrics()
    assert metrics["checkout_waits"] == 1 and metrics["checkout_timeouts"] == 1
    assert metrics["checkout_time_p95_ms"] >= 250  # the caller waited the pool timeout
    assert metrics["checked_out"] == 0 and metrics["saturated"] is False


async def test_a_wait_that_gets_a_connection_is_a_wait_but_no_timeout(database):
    db = Database(database.url, pool_size=1, max_overflow=0, pool_timeout=5)
    try:

        async def hold_briefly() -> None:
            async with db.engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
                await asyncio.sleep(0.2)

        holder = asyncio.create_task(hold_briefly())
        await asyncio.sleep(0.05)
        await db.fetch_all("SELECT 1")  # waits for the holder's connection
        await holder
        metrics = db.pool_metrics()
        assert metrics["checkout_waits"] == 1 and metrics["checkout_timeouts"] == 0
        assert metrics["checkout_time_p95_ms"] >= 100
    finally:
        await db.dispose()


async def test_checkouts_are_still_measured_after_dispose(small):
    await small.fetch_all("SELECT 1")
    await small.dispose()
    await small.fetch_all("SELECT 1")
    metrics = small.pool_metrics()
    assert metrics["checkouts"] == 2 and metrics["connections_opened"] == 2
    small.pool_monitor.reset()
    assert small.pool_metrics()["checkouts"] == 0


async def test_readiness_is_healthy_on_a_working_database(database):
    report = await database.readiness()
    assert report["status"] == "healthy"
    assert set(report) == {"status", "response_time_ms", "pool"}
    assert report["pool"]["checked_out"] == 0


async def test_readiness_answers_saturated_at_once_without_queueing(small):
    async with held(small, 2):
        started = time.perf_counter()
        report = await small.readiness()
        elapsed = time.perf_counter() - started
    assert report["status"] == "saturated" and elapsed < 0.1
    assert (await small.readiness())["status"] == "healthy"


async def test_a_ping_cut_by_its_timeout_leaves_no_connection_checked_out(database):
    db = Database(database.url, pool_size=2, max_overflow=0)
    try:
        for timeout in (1e-6, 1e-4, 1e-3, 5e-3) * 3:
            report = await db.readiness(ping_timeout=timeout)
            assert report["status"] in {"healthy", "unhealthy"}
        await asyncio.sleep(0.1)
        assert db.pool_status()["checked_out"] == 0
        assert (await db.readiness())["status"] == "healthy"
    finally:
        await db.dispose()


async def test_readiness_of_a_database_that_never_answers_is_unhealthy_within_its_timeout():
    # a server that accepts connections and then says nothing
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    db = Database(f"postgresql+asyncpg://app:pw@127.0.0.1:{port}/none", pool_timeout=30)
    try:
        started = time.perf_counter()
        report = await db.readiness(ping_timeout=0.5)
        assert report["status"] == "unhealthy"
        assert 0.4 < time.perf_counter() - started < 2
    finally:
        silent.close()
        await db.dispose()


async def test_readiness_of_a_refused_database_is_unhealthy():
    db = Database("postgresql+asyncpg://app:pw@127.0.0.1:1/none")
    try:
        assert (await db.readiness())["status"] == "unhealthy"
        with pytest.raises(InvalidQueryError):
            await db.readiness(ping_timeout=0)
    finally:
        await db.dispose()


async def test_a_detached_pool_monitor_stops_counting_until_attached_again(small):
    await small.fetch_all("SELECT 1")
    small.pool_monitor.detach()
    await small.fetch_all("SELECT 1")
    assert small.pool_metrics()["checkouts"] == 1
    assert small.pool_metrics()["pool_size"] == 2  # the pool's own figures stay
    small.pool_monitor.attach(small.engine)
    await small.fetch_all("SELECT 1")
    assert small.pool_metrics()["checkouts"] == 2
