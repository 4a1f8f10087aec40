"""The query monitor: counts, durations, failures and the slow-query log of a `Database`."""

from __future__ import annotations

import pytest

from orm_core import Database, DatabaseError, InvalidQueryError, QueryMonitor, UnitOfWork
from orm_core.monitor import MAX_SQL_LENGTH
from orm_repositories import AsyncRepository
from tests.models import Product

SECRET = "SECRET-VALUE-7391"


def slow_statement(database: Database) -> str:
    """A statement that takes well over 100 ms on the backend."""
    if database.dialect == "postgresql":
        return "SELECT pg_sleep(0.25)"
    return (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) "
        "SELECT count(*) FROM c"
    )


async def test_stats_count_every_statement_with_its_duration(database):
    database.monitor.reset()
    assert database.monitor.stats() == {
        "total_queries": 0,
        "slow_queries": 0,
        "failed_queries": 0,
        "avg_duration_ms": 0.0,
        "max_duration_ms": 0.0,
        "min_duration_ms": 0.0,
    }
    for _ in range(3):
        await database.fetch_all("SELECT 1")
    stats = database.monitor.stats()
    # on SQLite the BEGIN the framework issues is a statement too (it may wait for the lock)
    assert stats["total_queries"] == (6 if database.is_sqlite else 3)
    assert stats["failed_queries"] == 0 and stats["slow_queries"] == 0
    assert 0 < stats["min_duration_ms"] <= stats["avg_duration_ms"] <= stats["max_duration_ms"]


async def test_failed_statements_are_counted_and_reset_forgets_everything(database):
    database.monitor.reset()
    database.monitor.slow_query_ms = 0
    try:
        with pytest.raises(DatabaseError):
            await database.fetch_all("SELECT * FROM no_such_table_here")
        stats = database.monitor.stats()
        assert stats["failed_queries"] == 1 and stats["total_queries"] >= 1
        [entry] = [q for q in database.monitor.slow_queries() if "no_such_table" in q["sql"]]
        assert entry["failed"] is True
        database.monitor.reset()
        assert database.monitor.stats()["total_queries"] == 0
        assert database.monitor.slow_queries() == []
    finally:
        database.monitor.slow_query_ms = 500


async def test_slow_queries_hold_the_sql_and_duration_but_never_parameter_values(database):
    database.monitor.reset()
    database.monitor.slow_query_ms = 0  # every statement counts as slow
    try:
        async with UnitOfWork(database) as uow:
            repo = uow.repository(AsyncRepository[Product])
            created = await repo.create(sku=SECRET, name=SECRET, price=1)
            await repo.list(sku=SECRET, name__icontains=SECRET)
            await repo.get(created.id)
        await database.fetch_all("SELECT id FROM products WHERE sku = :sku", {"sku": SECRET})
        entries = database.monitor.slow_queries(limit=100)
    finally:
        database.monitor.slow_query_ms = 500
    assert any(e["sql"].startswith("INSERT INTO products") for e in entries)
    assert any("FROM products" in e["sql"] and "WHERE" in e["sql"] for e in entries)
    assert SECRET not in repr(entries)
    assert all(set(e) == {"sql", "duration_ms", "failed", "at"} for e in entries)
    durations = [e["duration_ms"] for e in entries]
    assert durations == sorted(durations, reverse=True)
    assert database.monitor.stats()["slow_queries"] == database.monitor.stats()["total_queries"]


async def test_only_statements_over_the_threshold_are_slow(database):
    database.monitor.reset()
    database.monitor.slow_query_ms = 100
    try:
        await database.fetch_all("SELECT 1")
        await database.fetch_all(slow_statement(database))
    finally:
        database.monitor.slow_query_ms = 500
    stats = database.monitor.stats()
    assert stats["total_queries"] == (4 if database.is_sqlite else 2)
    assert stats["slow_queries"] == 1
    [entry] = database.monitor.slow_queries()
    assert entry["sql"] == slow_statement(database)
    assert entry["duration_ms"] >= 100
    assert stats["max_duration_ms"] == entry["duration_ms"]


async def test_the_threshold_is_a_database_option(database):
    db = Database(database.url, slow_query_ms=0)
    try:
        await db.fetch_all("SELECT 1")
        assert "SELECT 1" in [e["sql"] for e in db.monitor.slow_queries()]
        assert Database(database.url).monitor.slow_query_ms == 500
    finally:
        await db.dispose()


async def test_variant_engines_report_to_the_same_monitor(database):
    database.monitor.reset()
    async with UnitOfWork(database, read_only=True) as uow:
        await uow.repository(AsyncRepository[Product]).count()
    async with UnitOfWork(database, isolation_level="SERIALIZABLE") as uow:
        await uow.repository(AsyncRepository[Product]).count()
    # each unit ran its count (plus, on SQLite, the BEGIN the backend emits)
    assert database.monitor.stats()["total_queries"] >= 2
    counted = database.monitor.stats()["total_queries"]
    async with database.engine_for(read_only=True).connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
    assert database.monitor.stats()["total_queries"] > counted


@pytest.mark.postgres
async def test_schema_engines_report_to_the_same_monitor(database):
    await database.execute('CREATE SCHEMA IF NOT EXISTS "monitor_tenant"')
    try:
        database.monitor.reset()
        async with database.engine_for(schema="monitor_tenant").connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
        assert database.monitor.stats()["total_queries"] == 1
    finally:
        await database.execute('DROP SCHEMA "monitor_tenant" CASCADE')


@pytest.mark.sqlite
async def test_values_rendered_inline_for_long_in_lists_stay_out_of_the_log(database):
    database.monitor.reset()
    database.monitor.slow_query_ms = 0
    ids = list(range(987_650_000, 987_650_000 + 10_001))  # over the inline threshold
    try:
        async with UnitOfWork(database) as uow:
            assert await uow.repository(AsyncRepository[Product]).get_many(ids) == []
    finally:
        database.monitor.slow_query_ms = 500
    text = repr(database.monitor.slow_queries(limit=100))
    assert "FROM products" in text
    assert "987650" not in text


async def test_the_slow_log_is_a_bounded_ring_of_cut_statements(database):
    monitor = QueryMonitor(slow_query_ms=0, max_slow_queries=5)
    monitor.attach(database.engine)
    try:
        for n in range(20):
            await database.fetch_all(f"SELECT {n}")
        long_sql = "SELECT 1 AS " + "a" * (MAX_SQL_LENGTH * 2)
        await database.fetch_all(long_sql)
    finally:
        monitor.detach()
    statements = 42 if database.is_sqlite else 21  # each with its BEGIN on SQLite
    assert monitor.stats()["slow_queries"] == statements
    entries = monitor.slow_queries(limit=100)
    assert len(entries) == 5
    longest = max(len(e["sql"]) for e in entries)
    assert MAX_SQL_LENGTH < longest < MAX_SQL_LENGTH + 5
    assert len(monitor.slow_queries(limit=2)) == 2
    await database.fetch_all("SELECT 1")  # detached: no longer counted
    assert monitor.stats()["total_queries"] == statements


def test_bad_monitor_settings_are_refused_before_any_engine_exists():
    for bad in (-1, "fast", float("nan"), True):
        with pytest.raises(InvalidQueryError):
            Database("sqlite+aiosqlite:///:memory:", slow_query_ms=bad)  # type: ignore[arg-type]
    monitor = QueryMonitor()
    for limit in (-1, 2.5, "3"):
        with pytest.raises(InvalidQueryError):
            monitor.slow_queries(limit=limit)  # type: ignore[arg-type]
    with pytest.raises(InvalidQueryError):
        QueryMonitor(max_slow_queries=0)
    assert QueryMonitor(slow_query_ms=None).slow_query_ms is None
