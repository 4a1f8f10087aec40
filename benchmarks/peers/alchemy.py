"""Hand-written SQLAlchemy: Core on a connection, and the ORM on a session, as experts write it."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from benchmarks.peers.base import Peer
from benchmarks.peers.workload import ITEMS_TABLE, WRITES_TABLE, Item, Written


def make_engine(url: URL) -> AsyncEngine:
    """A plain engine with the pool every peer gets."""
    return create_async_engine(url, pool_size=20, max_overflow=0)


def upsert_statement(dialect: str, target: Any) -> Any:
    """`INSERT … ON CONFLICT (sku) DO UPDATE` of name, category, price and stock."""
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(target)
    return stmt.on_conflict_do_update(
        index_elements=["sku"],
        set_={c: stmt.excluded[c] for c in ("name", "category", "price", "stock")},
    )


class CorePeer(Peer):
    """SQLAlchemy Core: statements on `engine.connect()` / `engine.begin()`."""

    name: ClassVar[str] = "SQLAlchemy Core"
    engine: AsyncEngine

    async def start(self, url: URL) -> None:
        self.engine = make_engine(url)

    async def stop(self) -> None:
        await self.engine.dispose()

    async def release(self) -> None:
        await self.engine.dispose()

    async def get(self, id: int) -> tuple[int, str]:
        t = ITEMS_TABLE
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t).where(t.c.id == id))).one()
        return row.id, row.sku

    async def get_many(self, ids: Sequence[int]) -> list[int]:
        t = ITEMS_TABLE
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(t).where(t.c.id.in_(ids)))).all()
        return [r.id for r in rows]

    async def list_filtered(self, category: str, min_price: Decimal, limit: int) -> list[int]:
        t = ITEMS_TABLE
        stmt = (
            select(t)
            .where(t.c.category == category, t.c.price > min_price)
            .order_by(t.c.id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [r.id for r in (await conn.execute(stmt)).all()]

    async def paginate(self, category: str, page: int, size: int) -> tuple[int, list[int]]:
        t = ITEMS_TABLE
        where = t.c.category == category
        async with self.engine.connect() as conn:
            total = (await conn.execute(select(func.count()).where(where))).scalar_one()
            stmt = select(t).where(where).order_by(t.c.id).offset((page - 1) * size).limit(size)
            rows = (await conn.execute(stmt)).all()
        return total, [r.id for r in rows]

    async def deep_page(self, after_id: int, size: int) -> list[int]:
        t = ITEMS_TABLE
        stmt = select(t).where(t.c.id > after_id).order_by(t.c.id).limit(size)
        async with self.engine.connect() as conn:
            return [r.id for r in (await conn.execute(stmt)).all()]

    async def sample(self, n: int) -> list[int]:
        t = ITEMS_TABLE
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(t).order_by(func.random()).limit(n))).all()
        return [r.id for r in rows]

    async def bulk_insert(self, rows: list[dict[str, Any]]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(WRITES_TABLE), rows)

    async def upsert(self, rows: list[dict[str, Any]]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(upsert_statement(self.engine.dialect.name, WRITES_TABLE), rows)

    async def increment(self, id: int) -> None:
        t = ITEMS_TABLE
        stmt = update(t).where(t.c.id == id).values(hits=t.c.hits + 1).returning(t.c.hits)
        async with self.engine.begin() as conn:
            (await conn.execute(stmt)).one()


class OrmPeer(Peer):
    """The SQLAlchemy ORM: a session per piece of work, `session.begin()` around writes."""

    name: ClassVar[str] = "SQLAlchemy ORM"
    engine: AsyncEngine

    async def start(self, url: URL) -> None:
        self.engine = make_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def stop(self) -> None:
        await self.engine.dispose()

    async def release(self) -> None:
        await self.engine.dispose()

    async def get(self, id: int) -> tuple[int, str]:
        async with self.sessions() as session:
            item = await session.get(Item, id)
        assert item is not None
        return item.id, item.sku

    async def get_many(self, ids: Sequence[int]) -> list[int]:
        async with self.sessions() as session:
            items = (await session.scalars(select(Item).where(Item.id.in_(ids)))).all()
        return [i.id for i in items]

    async def list_filtered(self, category: str, min_price: Decimal, limit: int) -> list[int]:
        stmt = (
            select(Item)
            .where(Item.category == category, Item.price > min_price)
            .order_by(Item.id)
            .limit(limit)
        )
        async with self.sessions() as session:
            return [i.id for i in (await session.scalars(stmt)).all()]

    async def paginate(self, category: str, page: int, size: int) -> tuple[int, list[int]]:
        where = Item.category == category
        async with self.sessions() as session:
            total = await session.scalar(select(func.count()).select_from(Item).where(where))
            stmt = select(Item).where(where).order_by(Item.id).offset((page - 1) * size).limit(size)
            items = (await session.scalars(stmt)).all()
        return int(total or 0), [i.id for i in items]

    async def deep_page(self, after_id: int, size: int) -> list[int]:
        stmt = select(Item).where(Item.id > after_id).order_by(Item.id).limit(size)
        async with self.sessions() as session:
            return [i.id for i in (await session.scalars(stmt)).all()]

    async def sample(self, n: int) -> list[int]:
        async with self.sessions() as session:
            items = (await session.scalars(select(Item).order_by(func.random()).limit(n))).all()
        return [i.id for i in items]

    async def bulk_insert(self, rows: list[dict[str, Any]]) -> None:
        # the ORM's bulk INSERT: a list of dicts, no objects (SQLAlchemy 2 "ORM bulk insert")
        async with self.sessions() as session, session.begin():
            await session.execute(insert(Written), rows)

    async def upsert(self, rows: list[dict[str, Any]]) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(upsert_statement(self.engine.dialect.name, Written), rows)

    async def increment(self, id: int) -> None:
        stmt = update(Item).where(Item.id == id).values(hits=Item.hits + 1).returning(Item.hits)
        async with self.sessions() as session, session.begin():
            (await session.execute(stmt)).one()
