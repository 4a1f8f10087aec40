"""Fixtures: a CRUD test application on the shared test models, and the example shop.

Both override the container's `database` provider with a database from the
`database` fixture (SQLite file or PostgreSQL), and check after every test that
no pooled connection was left checked out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from orm_core import Database, UnitOfWork
from orm_fastapi import OrmContainer, crud_router, setup_orm
from orm_repositories import AsyncRepository
from tests.conftest import empty_tables, side_database
from tests.models import Account, Note, Product
from tests.support import ShopUoW


class ProductIn(BaseModel):
    sku: str = Field(max_length=50)
    name: str
    price: Decimal
    stock: int = 0
    category: str | None = None


class ProductOut(ProductIn):
    model_config = ConfigDict(from_attributes=True)

    id: int
    view_count: int
    created_at: datetime


class ProductPatch(BaseModel):
    name: str | None = None
    price: Decimal | None = None
    stock: int | None = None
    category: str | None = None


class AccountIn(BaseModel):
    owner: str
    balance: Decimal = Decimal("0")


class AccountOut(AccountIn):
    model_config = ConfigDict(from_attributes=True)

    id: int
    version: int


class AccountPatch(BaseModel):
    owner: str | None = None
    balance: Decimal | None = None


class NoteIn(BaseModel):
    title: str


class NoteOut(NoteIn):
    model_config = ConfigDict(from_attributes=True)

    id: int


class TestContainer(OrmContainer):
    unit_of_work = providers.Factory(ShopUoW, database=OrmContainer.database)


def build_app(database: Database) -> FastAPI:
    """A small application exposing the test models through `crud_router`."""
    container = TestContainer()
    container.database.override(providers.Object(database))
    app = FastAPI()
    setup_orm(app, container)
    app.include_router(
        crud_router(
            AsyncRepository[Product],
            unit_of_work=container.unit_of_work,
            read_schema=ProductOut,
            create_schema=ProductIn,
            update_schema=ProductPatch,
            prefix="/products",
            filter_fields=["sku", "price", "stock", "category", "created_at"],
            order_fields=["price", "name", "stock"],
            max_page_size=50,
        )
    )
    app.include_router(
        crud_router(
            AsyncRepository[Account],
            unit_of_work=TestContainer.unit_of_work,  # a class-level provider resolves too
            read_schema=AccountOut,
            create_schema=AccountIn,
            update_schema=AccountPatch,
            prefix="/accounts",
        )
    )
    app.include_router(
        crud_router(
            Note,
            unit_of_work=lambda: UnitOfWork(database),
            read_schema=NoteOut,
            create_schema=NoteIn,
            update_schema=NoteIn,
            prefix="/notes",
        )
    )
    return app


def client_for(app: FastAPI, **options: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, **options),  # type: ignore[arg-type]
        base_url="http://test",
    )


@pytest.fixture
async def app(database: Database) -> AsyncIterator[FastAPI]:
    yield build_app(database)
    assert database.pool_status()["checked_out"] == 0


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


# -- the example shop ----------------------------------------------------------------


@pytest.fixture(scope="session")
def shop_postgres_url(postgres_url: str | None) -> Iterator[str | None]:
    """The shop's own PostgreSQL database (its tables share names with the test models'),
    migrated once for the whole run."""
    if postgres_url is None:
        yield None
        return
    from examples.shop.bootstrap import create_tables

    with side_database(postgres_url, "shop", create_tables) as url:
        yield url


@pytest.fixture
async def shop_database(
    database: Database, tmp_path: Path, shop_postgres_url: str | None
) -> AsyncIterator[Database]:
    """A database for the shop's own tables: a second SQLite file, or the shop's PostgreSQL
    database, emptied after each test."""
    from examples.shop.bootstrap import create_tables
    from examples.shop.models import ShopBase

    if database.is_sqlite:
        shop_db = Database(f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}")
        await create_tables(shop_db)
        yield shop_db
        assert shop_db.pool_status()["checked_out"] == 0
        await shop_db.dispose()
        return
    assert shop_postgres_url is not None
    shop_db = Database(shop_postgres_url, pool_size=20, max_overflow=20)
    try:
        yield shop_db
        assert shop_db.pool_status()["checked_out"] == 0
    finally:
        await empty_tables(shop_db, ShopBase.metadata)
        await shop_db.dispose()


def shop_app_for(shop_db: Database, **options: Any) -> FastAPI:
    """The shop on `shop_db`; `options` go to `create_app` (`tenant_header=True`, `seed=True`)."""
    from examples.shop.application import create_app

    app = create_app({"url": "sqlite+aiosqlite:///:memory:"}, **{"seed": False, **options})
    app.state.orm_container.database.override(providers.Object(shop_db))
    return app


@pytest.fixture
async def shop_client(shop_database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(shop_app_for(shop_database)) as http:
        yield http
