"""Seeding: `orm db seed` and the Python API, through `bulk_create`."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import func, inspect, select

from orm_core import Database, InvalidQueryError, UnitOfWork
from orm_repositories import AsyncRepository
from orm_repositories.seeding import ModelFactory, seed
from tests.cli.conftest import Cli
from tests.cli.test_cli_errors import assert_one_line_failure
from tests.models import Account, Membership, Note, Order, Product

SEED_MODELS = """
from sqlalchemy import ForeignKey, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from orm_core import NAMING_CONVENTION, TimestampMixin
from orm_core import Base as OrmBase


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = OrmBase.type_annotation_map


class Customer(TimestampMixin, Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(100))


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    note: Mapped[str | None] = mapped_column(String(200))
"""


def migrated(project: Path, cli: Cli, url: str) -> dict[str, str]:
    (project / "seed_models.py").write_text(SEED_MODELS)
    env = {"DATABASE_URL": url, "ORM_MODELS": "seed_models:Base"}
    assert cli("db", "init").exit_code == 0
    assert cli("db", "revision", "-m", "tables", "--autogenerate", **env).exit_code == 0
    assert cli("db", "upgrade", **env).exit_code == 0
    return env


async def scalar(url: str, sql: str) -> object:
    database = Database(url)
    try:
        row = await database.fetch_one(sql)
    finally:
        await database.dispose()
    assert row is not None
    return next(iter(row.values()))


def test_seed_command_fills_tables_with_a_progress_bar_on_postgres(
    project: Path, cli: Cli, postgres_db: str
) -> None:
    env = migrated(project, cli, postgres_db)
    result = cli("db", "seed", "Customer", "--count", "5000", "--batch-size", "1000", **env)
    assert result.exit_code == 0, result.output
    assert "inserted 5000 Customer rows" in result.stdout and "rows/s" in result.stdout
    assert "5000/5000" in result.stderr and "100%" in result.stderr
    assert asyncio.run(scalar(postgres_db, "SELECT count(*) FROM customers")) == 5000
    assert asyncio.run(scalar(postgres_db, "SELECT count(DISTINCT email) FROM customers")) == 5000

    invoices = cli("db", "seed", "Invoice", "-n", "2000", **env)
    assert invoices.exit_code == 0, invoices.output
    linked = "SELECT count(*) FROM invoices i JOIN customers c ON c.id = i.customer_id"
    assert asyncio.run(scalar(postgres_db, linked)) == 2000
    spread = "SELECT count(DISTINCT customer_id) FROM invoices"
    assert asyncio.run(scalar(postgres_db, spread)) > 100  # type: ignore[operator]


def test_seeding_a_child_before_its_parent_fails_cleanly(
    project: Path, cli: Cli, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    env = migrated(project, cli, url)
    result = cli("db", "seed", "Invoice", "--count", "10", **env)
    assert_one_line_failure(result, "customers has no rows", "seed it first")
    assert asyncio.run(scalar(url, "SELECT count(*) FROM invoices")) == 0


def test_seed_truncate_empties_the_table_first_and_spares_referenced_rows(
    project: Path, cli: Cli, db_url: str
) -> None:
    env = migrated(project, cli, db_url)
    assert cli("db", "seed", "Customer", "-n", "30", **env).exit_code == 0
    again = cli("db", "seed", "Customer", "-n", "12", "--truncate", "--seed", "3", **env)
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("emptied customers, inserted 12 Customer rows")
    assert asyncio.run(scalar(db_url, "SELECT count(*) FROM customers")) == 12

    assert cli("db", "seed", "Invoice", "-n", "5", **env).exit_code == 0
    refused = cli("db", "seed", "Customer", "-n", "7", "--truncate", **env)
    assert_one_line_failure(refused, "cannot truncate customers", "invoices", "empty invoices")
    assert asyncio.run(scalar(db_url, "SELECT count(*) FROM customers")) == 12
    assert asyncio.run(scalar(db_url, "SELECT count(*) FROM invoices")) == 5

    children = cli("db", "seed", "Invoice", "-n", "3", "--truncate", **env)
    assert children.exit_code == 0, children.output
    assert asyncio.run(scalar(db_url, "SELECT count(*) FROM invoices")) == 3
    assert cli("db", "seed", "Invoice", "-n", "0", "--truncate", **env).exit_code == 0
    parents = cli("db", "seed", "Customer", "-n", "4", "--truncate", **env)
    assert parents.exit_code == 0, parents.output
    assert asyncio.run(scalar(db_url, "SELECT count(*) FROM customers")) == 4


class ProductFactory(ModelFactory[Product]):
    fields: ClassVar[dict[str, Any]] = {
        "category": "books",
        "stock": lambda fake: fake.random.randint(5, 9),
    }


async def test_seed_api_uses_factory_fields_and_defaults(database: Database) -> None:
    progress: list[int] = []
    count = await seed(database, Product, 250, factory=ProductFactory(seed=7), batch_size=100,
                       progress=progress.append)  # fmt: skip
    assert count == 250 and progress == [100, 100, 50]
    assert await seed(database, Order, 40) == 40
    assert await seed(database, Note, 20) == 20
    assert await seed(database, Account, 20) == 20
    assert await seed(database, Membership, 20) == 20
    async with UnitOfWork(database) as uow:
        products = uow.repository(Product)
        assert await products.count() == 250
        assert await products.count(category="books") == 250
        assert await products.count(stock__between=(5, 9)) == 250
        assert all(p.price < Decimal("10000000000") for p in await products.list(limit=50))
        assert await uow.repository(Note).count() == 20, "seeded rows are not soft-deleted"
        versions = await uow.session.scalars(select(func.min(Account.version)))
        assert versions.one() == 1
        order_products = await uow.session.scalars(select(Order.product_id))
        known = {p.id for p in await products.list()}
        assert set(order_products) <= known


async def test_seed_rejects_bad_counts_and_unmet_foreign_keys(database: Database) -> None:
    with pytest.raises(InvalidQueryError):
        await seed(database, Product, -1)
    with pytest.raises(InvalidQueryError):
        await seed(database, Product, 10, batch_size=0)
    with pytest.raises(InvalidQueryError, match="seed it first"):
        await seed(database, Order, 5)
    async with UnitOfWork(database) as uow:
        assert await AsyncRepository.for_model(Order)(uow.session).count() == 0


class FailingProductFactory(ModelFactory[Product]):
    fields: ClassVar[dict[str, Any]] = {"category": lambda fake: 1 / 0}


async def test_seed_api_truncate_is_undone_with_a_seed_that_fails(database: Database) -> None:
    assert await seed(database, Product, 20) == 20
    assert await seed(database, Product, 7, truncate=True) == 7
    with pytest.raises(ZeroDivisionError):
        await seed(database, Product, 5, factory=FailingProductFactory(), truncate=True)
    assert await seed(database, Order, 3) == 3
    with pytest.raises(InvalidQueryError, match="cannot truncate products: rows of orders"):
        await seed(database, Product, 5, truncate=True)
    async with UnitOfWork(database) as uow:
        assert await uow.repository(Product).count() == 7, "the emptying was rolled back"
        assert await uow.repository(Order).count() == 3


def test_factory_builds_unsaved_instances_and_unique_values() -> None:
    factory = ProductFactory(seed=1)
    product = factory.build(name="Fixed")
    assert isinstance(product, Product) and product.name == "Fixed"
    assert inspect(product).transient and product.category == "books"
    rows = factory.build_rows(2000)
    assert len({r["sku"] for r in rows}) == 2000
    assert all(len(r["sku"]) <= 50 and len(r["name"]) <= 200 for r in rows)
    assert "id" not in rows[0] and "created_at" not in rows[0]
    with pytest.raises(TypeError, match="no model"):
        ModelFactory()
