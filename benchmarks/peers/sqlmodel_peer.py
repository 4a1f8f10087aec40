"""SQLModel: table models that are pydantic models, on its `AsyncSession` with `exec`."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import func
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from benchmarks.peers.alchemy import make_engine
from benchmarks.peers.base import Peer
from benchmarks.peers.workload import ITEMS, WRITES


class SQLModelItem(SQLModel, table=True):
    __tablename__ = ITEMS

    id: int | None = Field(default=None, primary_key=True)
    sku: str = Field(max_length=50, unique=True)
    name: str = Field(max_length=200)
    category: str = Field(max_length=50)
    price: Decimal = Field(max_digits=12, decimal_places=2)
    stock: int = 0
    hits: int = 0


class SQLModelWritten(SQLModel, table=True):
    __tablename__ = WRITES

    id: int | None = Field(default=None, primary_key=True)
    sku: str = Field(max_length=50, unique=True)
    name: str = Field(max_length=200)
    category: str = Field(max_length=50)
    price: Decimal = Field(max_digits=12, decimal_places=2)
    stock: int = 0
    hits: int = 0


class SQLModelPeer(Peer):
    """`session.get` / `session.exec(select(...))`, `session.add_all` and `commit`."""

    name: ClassVar[str] = "SQLModel"
    read_modify_write: ClassVar[bool] = True
    footnotes: ClassVar[dict[str, str]] = {
        "paginate": "no pagination helper: `func.count()` and `.offset().limit()`",
        "deep page": "no keyset pagination: `.offset().limit()`",
        "random sample": "no sampling: `select(...).order_by(func.random())`",
        "bulk insert": "`session.add_all(objects)` and `commit()`",
        "upsert": "no upsert: select the existing rows by key, set their fields, add the "
        "others, commit",
        "hot-row counter": "no atomic update: `get`, `+= 1`, `add`, `commit` "
        "(read-modify-write)",
    }
    engine: AsyncEngine

    async def start(self, url: URL) -> None:
        self.engine = make_engine(url)

    async def stop(self) -> None:
        await self.engine.dispose()

    async def release(self) -> None:
        await self.engine.dispose()

    def session(self) -> AsyncSession:
        return AsyncSession(self.engine, expire_on_commit=False)

    async def get(self, id: int) -> tuple[int, str]:
        async with self.session() as session:
            item = await session.get(SQLModelItem, id)
        assert item is not None and item.id is not None
        return item.id, item.sku

    async def get_many(self, ids: Sequence[int]) -> list[int]:
        statement = select(SQLModelItem).where(col(SQLModelItem.id).in_(ids))
        async with self.session() as session:
            return [i.id for i in (await session.exec(statement)).all() if i.id is not None]

    async def list_filtered(self, category: str, min_price: Decimal, limit: int) -> list[int]:
        statement = (
            select(SQLModelItem)
            .where(SQLModelItem.category == category, col(SQLModelItem.price) > min_price)
            .order_by(col(SQLModelItem.id))
            .limit(limit)
        )
        async with self.session() as session:
            return [i.id for i in (await session.exec(statement)).all() if i.id is not None]

    async def paginate(self, category: str, page: int, size: int) -> tuple[int, list[int]]:
        where = SQLModelItem.category == category
        counting = select(func.count()).select_from(SQLModelItem).where(where)
        statement = (
            select(SQLModelItem)
            .where(where)
            .order_by(col(SQLModelItem.id))
            .offset((page - 1) * size)
            .limit(size)
        )
        async with self.session() as session:
            total = (await session.exec(counting)).one()
            items = (await session.exec(statement)).all()
        return total, [i.id for i in items if i.id is not None]

    async def deep_page(self, after_id: int, size: int) -> list[int]:
        # ids are 1..N without gaps, so OFFSET after_id starts right after row after_id
        statement = select(SQLModelItem).order_by(col(SQLModelItem.id)).offset(after_id).limit(size)
        async with self.session() as session:
            return [i.id for i in (await session.exec(statement)).all() if i.id is not None]

    async def sample(self, n: int) -> list[int]:
        statement = select(SQLModelItem).order_by(func.random()).limit(n)
        async with self.session() as session:
            return [i.id for i in (await session.exec(statement)).all() if i.id is not None]

    async def bulk_insert(self, rows: list[dict[str, Any]]) -> None:
        async with self.session() as session:
            session.add_all([SQLModelWritten(**row) for row in rows])
            await session.commit()

    async def upsert(self, rows: list[dict[str, Any]]) -> None:
        async with self.session() as session:
            skus = [row["sku"] for row in rows]
            found = await session.exec(
                select(SQLModelWritten).where(col(SQLModelWritten.sku).in_(skus))
            )
            existing = {item.sku: item for item in found.all()}
            for row in rows:
                item = existing.get(row["sku"])
                if item is None:
                    session.add(SQLModelWritten(**row))
                else:
                    item.sqlmodel_update(row)
                    session.add(item)
            await session.commit()

    async def increment(self, id: int) -> None:
        async with self.session() as session:
            item = await session.get(SQLModelItem, id)
            assert item is not None
            item.hits += 1
            session.add(item)
            await session.commit()
