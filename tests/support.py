"""What the test suite shares: one unit of work over the test models, and a SQL recorder.

`ShopUoW` annotates a repository for every model in `tests.models`, so a test
reaches any of them as `uow.<table>`. `recorded(database)` captures the statements
a block sends, to prove statement counts, their shape, or that no SQL ran at all.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Table, event, inspect, text

from orm_core import Database, UnitOfWork
from orm_core.fields import model_info
from orm_repositories import AsyncRepository
from tests.models import (
    Account,
    BlogArticle,
    BlogComment,
    BlogTag,
    BlogUser,
    Document,
    Job,
    Ledger,
    Listing,
    Membership,
    Note,
    Order,
    Product,
    SearchArticle,
    SearchMemo,
    Sheet,
    TenantItem,
    TenantLabel,
    TenantPart,
    Ticket,
)

# -- the unit of work -------------------------------------------------------------------


class ProductRepository(AsyncRepository[Product]):
    """A repository subclass, so tests can subclass it further or check its type."""


class ShopUoW(UnitOfWork):
    """A repository for every shared test model."""

    products: ProductRepository
    orders: AsyncRepository[Order]
    accounts: AsyncRepository[Account]
    notes: AsyncRepository[Note]
    memberships: AsyncRepository[Membership]
    tickets: AsyncRepository[Ticket]
    jobs: AsyncRepository[Job]
    documents: AsyncRepository[Document]
    users: AsyncRepository[BlogUser]
    articles: AsyncRepository[BlogArticle]
    tags: AsyncRepository[BlogTag]
    comments: AsyncRepository[BlogComment]
    sheets: AsyncRepository[Sheet]
    listings: AsyncRepository[Listing]
    items: AsyncRepository[TenantItem]
    labels: AsyncRepository[TenantLabel]
    parts: AsyncRepository[TenantPart]
    ledgers: AsyncRepository[Ledger]
    search_articles: AsyncRepository[SearchArticle]
    search_memos: AsyncRepository[SearchMemo]


def product_row(n: int, **extra: Any) -> dict[str, Any]:
    """A valid `Product` row numbered `n`."""
    return {"sku": f"SKU-{n:06d}", "name": f"Product {n}", "price": Decimal(n) / 100, **extra}


async def seed_products(database: Database, count: int, **extra: Any) -> list[Product]:
    """Insert `count` products and return them."""
    async with ShopUoW(database) as uow:
        return [await uow.products.create(**product_row(n, **extra)) for n in range(1, count + 1)]


# -- recording statements ---------------------------------------------------------------

_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA", "SELECT PG_")


@dataclass
class Recorded:
    """Statements seen by `before_cursor_execute`, with their parameter counts.

    Each entry is `(sql, parameters per set, parameter sets)`; an executemany call
    is one entry whose last number is how many sets the driver received.
    """

    statements: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def sql(self) -> list[str]:
        """The text of every statement, in the order sent."""
        return [s for s, _, _ in self.statements]

    @property
    def queries(self) -> list[str]:
        """The statements that are not transaction control."""
        return [s for s in self.sql if not s.lstrip().upper().startswith(_CONTROL)]

    @property
    def max_params(self) -> int:
        """The most bind parameters one statement carried."""
        return max((n for _, n, _ in self.statements), default=0)

    def starting_with(self, *keywords: str) -> list[str]:
        """The statements that begin with one of `keywords` ("INSERT", "SELECT", ...).

        Leading whitespace and letter case are ignored.
        """
        wanted = tuple(k.upper() for k in keywords)
        return [s for s in self.sql if s.lstrip().upper().startswith(wanted)]


def _param_count(parameters: Any, executemany: bool) -> tuple[int, int]:
    if executemany:
        sets = list(parameters)
        return (len(sets[0]) if sets else 0), len(sets)
    return (len(parameters) if parameters else 0), 1


@contextmanager
def recorded(database: Database) -> Iterator[Recorded]:
    """Record every statement sent to `database` inside the block."""
    log = Recorded()

    def on_execute(conn, cursor, statement, parameters, context, executemany):
        count, sets = _param_count(parameters, executemany)
        log.statements.append((statement, count, sets))

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def read_every_column(entity: Any) -> dict[str, Any]:
    """Read every column attribute, as a caller would after the unit of work closed."""
    assert not (inspect(entity).unloaded & set(model_info(type(entity)).fields))
    return {key: getattr(entity, key) for key in model_info(type(entity)).fields}


MARIADB_URL = "mysql+aiomysql://root@127.0.0.1:3306"


@asynccontextmanager
async def private_mariadb(prefix: str, *tables: Table) -> AsyncIterator[Database]:
    """A new MariaDB database `prefix_<random>` holding `tables`, dropped afterwards; the
    test is skipped when MariaDB is unreachable at 127.0.0.1:3306."""
    pytest.importorskip("aiomysql")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = Database(f"{MARIADB_URL}/test")
    try:
        await asyncio.wait_for(admin.execute(f"CREATE DATABASE {name}"), 5)
    except Exception:
        pytest.skip("MariaDB unreachable at 127.0.0.1:3306")
    finally:
        await admin.dispose()
    db = Database(f"{MARIADB_URL}/{name}")
    try:
        async with db.engine.begin() as conn:
            for table in tables:
                await conn.run_sync(table.create)
        yield db
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(text(f"DROP DATABASE {name}"))
        await db.dispose()
