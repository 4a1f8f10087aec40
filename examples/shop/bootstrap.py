"""Prepare the database at start-up: tables, then demo data on an empty shop."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from examples.shop.models import ShopBase
from examples.shop.tenancy import DEFAULT_TENANT
from examples.shop.unit_of_work import ShopUnitOfWork
from orm_core import Database
from orm_core.migrations import MigrationManager

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

DEMO_PRODUCTS = [
    {
        "sku": "TEA-001",
        "name": "Green tea",
        "price": Decimal("4.50"),
        "stock": 120,
        "category": "tea",
    },
    {
        "sku": "TEA-002",
        "name": "Earl grey",
        "price": Decimal("5.20"),
        "stock": 80,
        "category": "tea",
    },
    {
        "sku": "CUP-001",
        "name": "Stoneware cup",
        "price": Decimal("12.00"),
        "stock": 30,
        "category": "kitchen",
    },
    {
        "sku": "POT-001",
        "name": "Cast-iron teapot",
        "price": Decimal("49.90"),
        "stock": 5,
        "category": "kitchen",
    },
    {
        "sku": "GFT-001",
        "name": "Gift card",
        "price": Decimal("25.00"),
        "stock": 1000,
        "category": None,
    },
]
DEMO_ACCOUNTS = [
    {"owner": "alice", "email": "alice@example.com", "balance": Decimal("100.00")},
    {"owner": "bob", "email": "bob@example.com", "balance": Decimal("50.00")},
]


async def prepare_database(database: Database, *, seed: bool = True) -> None:
    """Create the tables that are missing, then seed demo data into an empty shop.

    The demo data goes to `DEFAULT_TENANT` only, in either mode: with the `X-Tenant`
    header, `X-Tenant: shop` sees it and every other tenant starts empty.
    """
    await create_tables(database)
    if seed:
        await seed_demo_data(database)


async def create_tables(database: Database) -> None:
    """Bring the schema up to date.

    On PostgreSQL the shop runs its Alembic migrations (`examples/shop/migrations`,
    the same as `orm db upgrade -d examples/shop/migrations`); the SQLite demo
    creates its tables straight from the models.
    """
    if database.dialect == "postgresql":
        await MigrationManager(database.url, None, MIGRATIONS).upgrade_on(database.engine)
    else:
        await database.create_all(ShopBase.metadata)


async def seed_demo_data(database: Database, tenant: str = DEFAULT_TENANT) -> None:
    """Insert the demo catalogue and accounts unless the tenant already has products."""
    async with ShopUnitOfWork(database, tenant=tenant) as uow:
        if await uow.products.exists():
            return
        await uow.products.upsert_many(DEMO_PRODUCTS, conflict_fields=["tenant_id", "sku"])
        for account in DEMO_ACCOUNTS:
            await uow.accounts.get_or_create(defaults=account, owner=account["owner"])
