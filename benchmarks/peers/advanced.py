"""advanced-alchemy: its `SQLAlchemyAsyncRepository` on a session per piece of work."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

from advanced_alchemy.filters import CollectionFilter, LimitOffset, OrderBy
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy import func, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from benchmarks.peers.alchemy import make_engine
from benchmarks.peers.base import Peer
from benchmarks.peers.workload import Item, Written


class ItemRepository(SQLAlchemyAsyncRepository[Item]):
    model_type = Item


class WrittenRepository(SQLAlchemyAsyncRepository[Written]):
    model_type = Written


class AdvancedAlchemyPeer(Peer):
    """Repository methods with its filter objects; `auto_commit=True` on writes."""

    name: ClassVar[str] = "advanced-alchemy"
    read_modify_write: ClassVar[bool] = True
    footnotes: ClassVar[dict[str, str]] = {
        "deep page": "no keyset pagination: `LimitOffset` (OFFSET)",
        "random sample": "no sampling: `get_many(statement=select(...).order_by(func.random()))`",
        "hot-row counter": "no atomic increment: `get`, `+= 1`, `update` (read-modify-write)",
    }
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
            item = await ItemRepository(session=session).get(id)
        return item.id, item.sku

    async def get_many(self, ids: Sequence[int]) -> list[int]:
        async with self.sessions() as session:
            items = await ItemRepository(session=session).get_many(
                CollectionFilter(field_name="id", values=list(ids))
            )
        return [i.id for i in items]

    async def list_filtered(self, category: str, min_price: Decimal, limit: int) -> list[int]:
        async with self.sessions() as session:
            items = await ItemRepository(session=session).get_many(
                Item.price > min_price,
                LimitOffset(limit=limit, offset=0),
                OrderBy(field_name="id", sort_order="asc"),
                category=category,
            )
        return [i.id for i in items]

    async def paginate(self, category: str, page: int, size: int) -> tuple[int, list[int]]:
        async with self.sessions() as session:
            items, total = await ItemRepository(session=session).get_many_and_count(
                LimitOffset(limit=size, offset=(page - 1) * size),
                OrderBy(field_name="id", sort_order="asc"),
                category=category,
            )
        return total, [i.id for i in items]

    async def deep_page(self, after_id: int, size: int) -> list[int]:
        # ids are 1..N without gaps, so OFFSET after_id starts right after row after_id
        async with self.sessions() as session:
            items = await ItemRepository(session=session).get_many(
                LimitOffset(limit=size, offset=after_id),
                OrderBy(field_name="id", sort_order="asc"),
            )
        return [i.id for i in items]

    async def sample(self, n: int) -> list[int]:
        statement = select(Item).order_by(func.random()).limit(n)
        async with self.sessions() as session:
            items = await ItemRepository(session=session).get_many(
                statement=statement  # type: ignore[arg-type]
            )
        return [i.id for i in items]

    async def bulk_insert(self, rows: list[dict[str, Any]]) -> None:
        async with self.sessions() as session:
            await WrittenRepository(session=session).add_many(
                [Written(**row) for row in rows], auto_commit=True
            )

    async def upsert(self, rows: list[dict[str, Any]]) -> None:
        async with self.sessions() as session:
            await WrittenRepository(session=session).upsert_many(
                [Written(**row) for row in rows], match_fields=["sku"], auto_commit=True
            )

    async def increment(self, id: int) -> None:
        async with self.sessions() as session:
            repository = ItemRepository(session=session)
            item = await repository.get(id)
            item.hits += 1
            await repository.update(item, auto_commit=True)
