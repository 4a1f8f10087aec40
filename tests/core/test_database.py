from __future__ import annotations

import pytest

from orm_core import Database, DatabaseError, DatabaseUnavailableError, InvalidQueryError


async def test_ping_and_health_check_report_a_healthy_database(database):
    assert await database.ping() is True
    health = await database.health_check()
    assert health["status"] == "healthy"
    assert health["dialect"] == database.dialect
    assert isinstance(health["response_time_ms"], float)
    assert set(health["pool"]) == {"pool_size", "checked_out", "checked_in", "overflow"}


async def test_health_check_masks_the_password():
    db = Database("postgresql+asyncpg://app:s3cret@127.0.0.1:1/nowhere", pool_timeout=1)
    try:
        health = await db.health_check()
        assert health["status"] == "unhealthy"
        assert "s3cret" not in health["database_url"]
        assert "***" in health["database_url"]
        assert await db.ping() is False
    finally:
        await db.dispose()


async def test_unreachable_database_raises_unavailable():
    db = Database("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    try:
        with pytest.raises(DatabaseUnavailableError):
            await db.fetch_all("SELECT 1")
    finally:
        await db.dispose()


async def test_raw_sql_uses_bound_parameters(database):
    inserted = await database.execute(
        "INSERT INTO products (sku, name, price, stock, view_count, created_at, updated_at) "
        "VALUES (:sku, :name, :price, 0, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        {"sku": "x'; DROP TABLE products; --", "name": "n", "price": 1},
    )
    assert inserted == 1
    hostile = "x'; DROP TABLE products; --"
    rows = await database.fetch_all("SELECT sku FROM products WHERE sku = :sku", {"sku": hostile})
    assert rows == [{"sku": "x'; DROP TABLE products; --"}]
    missing = await database.fetch_one("SELECT sku FROM products WHERE sku = :s", {"s": "none"})
    assert missing is None


async def test_raw_sql_rejects_non_mapping_params(database):
    with pytest.raises(InvalidQueryError):
        await database.fetch_all("SELECT 1", ["not", "a", "mapping"])  # type: ignore[arg-type]
    with pytest.raises(InvalidQueryError):
        await database.execute(123)  # type: ignore[arg-type]


async def test_raw_sql_errors_are_translated(database):
    with pytest.raises(DatabaseError):
        await database.fetch_all("SELECT * FROM no_such_table")


async def test_pool_status_counts_checked_out_connections(database):
    assert database.pool_status()["checked_out"] == 0
    async with database.session() as session:
        await session.connection()
        assert database.pool_status()["checked_out"] == 1
    assert database.pool_status()["checked_out"] == 0


@pytest.mark.sqlite
async def test_sqlite_connections_get_foreign_keys_wal_and_busy_timeout(database):
    async with database.engine.connect() as conn:
        fk = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar_one()
        journal = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
        busy = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
    assert fk == 1
    assert journal == "wal"
    assert busy >= 1000


async def test_pool_timeout_surfaces_as_unavailable(postgres_url):
    if postgres_url is None:
        pytest.skip("PostgreSQL unreachable")
    db = Database(postgres_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        async with db.engine.connect() as held:
            await held.exec_driver_sql("SELECT 1")
            with pytest.raises(DatabaseUnavailableError):
                await db.fetch_all("SELECT 1")
    finally:
        await db.dispose()
