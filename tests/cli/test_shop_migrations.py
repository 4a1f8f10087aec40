"""The example shop's committed migrations build exactly the schema its models describe."""

from __future__ import annotations

import asyncio

from examples.shop.bootstrap import MIGRATIONS, create_tables
from examples.shop.models import ShopBase
from examples.shop.tenancy import DEFAULT_TENANT
from orm_core import Database
from orm_core.migrations import MigrationManager

TENANTS_REVISION = "fdd7d19d8fa7"  # tenant_id in the shop tables


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
    assert [t["tablename"] for t in tables] == [
        "accounts",
        "alembic_version",
        "orders",
        "orm_idempotency_keys",
        "products",
    ]
    assert manager.differences() == []


async def test_rows_from_before_tenants_land_in_the_default_tenant(postgres_db: str) -> None:
    manager = MigrationManager(postgres_db, ShopBase, MIGRATIONS)
    [tenants] = [r for r in manager.history() if r.revision == TENANTS_REVISION]
    manager.upgrade(tenants.down_revision[0])
    database = Database(postgres_db)
    try:
        await database.execute(
            "INSERT INTO products (sku, name, price, stock, view_count, created_at, updated_at)"
            " VALUES ('TEA-001', 'Tea', 1, 1, 0, now(), now())"
        )
        await database.execute(
            "INSERT INTO accounts (owner, balance, version, created_at, updated_at)"
            " VALUES ('alice', 1, 1, now(), now())"
        )
        await database.execute(
            "INSERT INTO orders (product_id, quantity, total, created_at, updated_at)"
            " VALUES (1, 1, 1, now(), now())"
        )
        manager.upgrade(TENANTS_REVISION)
        stored = await database.fetch_all(
            "SELECT 'products' AS t, tenant_id FROM products UNION ALL"
            " SELECT 'accounts', tenant_id FROM accounts UNION ALL"
            " SELECT 'orders', tenant_id FROM orders ORDER BY 1"
        )
        assert [(r["t"], r["tenant_id"]) for r in stored] == [
            ("accounts", DEFAULT_TENANT), ("orders", DEFAULT_TENANT), ("products", DEFAULT_TENANT)
        ]  # fmt: skip
        # the back-filling default is gone again, as the models declare none
        without_default = await database.fetch_one(
            "SELECT count(*) AS n FROM information_schema.columns WHERE column_name = 'tenant_id'"
            " AND column_default IS NULL AND is_nullable = 'NO' AND table_schema = 'public'"
        )
        assert without_default == {"n": 3}
        # unique per tenant now: another tenant may reuse the SKU and the owner
        await database.execute(
            "INSERT INTO products (tenant_id, sku, name, price, stock, view_count, created_at,"
            " updated_at) VALUES ('acme', 'TEA-001', 'Tea', 1, 1, 0, now(), now())"
        )
        await database.execute(
            "INSERT INTO accounts (tenant_id, owner, balance, version, created_at, updated_at)"
            " VALUES ('acme', 'alice', 1, 1, now(), now())"
        )
    finally:
        await database.dispose()
    manager.upgrade()
    assert manager.differences() == []


def test_each_tenant_schema_is_upgraded_on_its_own_and_keeps_its_revision(
    postgres_db: str, cli
) -> None:
    directory = str(MIGRATIONS)
    head = MigrationManager(postgres_db, None, MIGRATIONS).heads()[0]
    result = cli("db", "upgrade", "--url", postgres_db, "-d", directory,
                 "--schema", "acme", "--schema", "globex")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"schema acme at {head}", f"schema globex at {head}"]
    current = cli("db", "current", "--url", postgres_db, "-d", directory, "--schema", "acme")
    assert current.output.strip() == f"acme: {head}"
    assert MigrationManager(postgres_db, None, MIGRATIONS).current() is None  # public untouched

    async def tables() -> list[tuple[str, str]]:
        database = Database(postgres_db)
        try:
            rows = await database.fetch_all(
                "SELECT schemaname, tablename FROM pg_tables"
                " WHERE schemaname IN ('public', 'acme', 'globex') ORDER BY 1, 2"
            )
        finally:
            await database.dispose()
        return [(r["schemaname"], r["tablename"]) for r in rows]

    names = ["accounts", "alembic_version", "orders", "orm_idempotency_keys", "products"]
    assert asyncio.run(tables()) == [("acme", n) for n in names] + [("globex", n) for n in names]
    down = cli("db", "downgrade", "base", "--url", postgres_db, "-d", directory,
               "--schema", "globex")  # fmt: skip
    assert down.exit_code == 0, down.output
    assert asyncio.run(tables()) == [("acme", n) for n in names] + [("globex", "alembic_version")]
    refused = cli("db", "upgrade", "--url", postgres_db, "-d", directory, "--schema", "Bad-Name")
    assert refused.exit_code != 0 and "schema must be" in refused.output


def test_a_tenant_schema_on_sqlite_is_refused(cli, tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    result = cli("db", "upgrade", "--url", url, "-d", str(MIGRATIONS), "--schema", "acme")
    assert result.exit_code != 0 and "needs PostgreSQL" in result.output
