"""The example shop's committed migrations build exactly the schema its models describe."""

from __future__ import annotations

from examples.shop.bootstrap import MIGRATIONS, create_tables
from examples.shop.models import ShopBase
from orm_core import Database
from orm_core.migrations import MigrationManager


async def test_shop_start_up_on_postgres_runs_the_committed_migrations(postgres_db: str) -> None:
    database = Database(postgres_db)
    try:
        await create_tables(database)
        row = await database.fetch_one("SELECT version_num FROM alembic_version")
        tables = await database.fetch_all(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
    finally:
        await database.dispose()
    manager = MigrationManager(postgres_db, ShopBase, MIGRATIONS)
    assert row is not None and row["version_num"] == manager.heads()[0]
    assert [t["tablename"] for t in tables] == ["accounts", "alembic_version", "orders", "products"]
    assert manager.differences() == []
