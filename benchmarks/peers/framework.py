"""This framework through its public API: a unit of work per piece of work."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy.engine import URL

from benchmarks.peers.base import Peer
from benchmarks.peers.workload import Item, Written
from orm_core import Database, UnitOfWork
from orm_repositories import AsyncRepository


class ItemRepository(AsyncRepository[Item]):
    """The read table's repository, as an application declares it."""


class WrittenRepository(AsyncRepository[Written]):
    """The write table's repository."""


class FrameworkPeer(Peer):
    """`async with UnitOfWork(db) as uow: await uow.repository(Model).<method>(...)`."""

    name: ClassVar[str] = "orm-kit"
    footnotes: ClassVar[dict[str, str]] = {
        "deep page": "keyset: `paginate_cursor(after=cursor)`, the cursor taken from the "
        "page before",
    }

    async def start(self, url: URL) -> None:
        self.db = Database(url, pool_size=20, max_overflow=0)
        self.cursors: dict[int, str] = {}

    async def stop(self) -> None:
        await self.db.dispose()

    async def release(self) -> None:
        await self.db.engine.dispose()

    async def get(self, id: int) -> tuple[int, str]:
        async with UnitOfWork(self.db) as uow:
            item = await uow.repository(ItemRepository).get_one(id)
        return item.id, item.sku

    async def get_many(self, ids: Sequence[int]) -> list[int]:
        async with UnitOfWork(self.db) as uow:
            return [i.id for i in await uow.repository(ItemRepository).get_many(ids)]

    async def list_filtered(self, category: str, min_price: Decimal, limit: int) -> list[int]:
        async with UnitOfWork(self.db) as uow:
            items = await uow.repository(ItemRepository).list(
                category=category, price__gt=min_price, order_by="id", limit=limit
            )
        return [i.id for i in items]

    async def paginate(self, category: str, page: int, size: int) -> tuple[int, list[int]]:
        async with UnitOfWork(self.db) as uow:
            result = await uow.repository(ItemRepository).paginate(
                category=category, page=page, page_size=size, order_by="id"
            )
        return result.total, [i.id for i in result.items]

    async def deep_page(self, after_id: int, size: int) -> list[int]:
        if after_id not in self.cursors:
            # a reader walking the pages holds the cursor of the page before; make that one
            async with UnitOfWork(self.db) as uow:
                repository = uow.repository(ItemRepository)
                first = await repository.paginate_cursor(limit=1, id__gte=after_id)
            assert first.next_cursor is not None
            self.cursors[after_id] = first.next_cursor
        async with UnitOfWork(self.db) as uow:
            page = await uow.repository(ItemRepository).paginate_cursor(
                after=self.cursors[after_id], limit=size
            )
        return [i.id for i in page.items]

    async def sample(self, n: int) -> list[int]:
        async with UnitOfWork(self.db) as uow:
            return [i.id for i in await uow.repository(ItemRepository).sample(n)]

    async def bulk_insert(self, rows: list[dict[str, Any]]) -> None:
        async with UnitOfWork(self.db) as uow:
            await uow.repository(WrittenRepository).bulk_create(rows)

    async def upsert(self, rows: list[dict[str, Any]]) -> None:
        async with UnitOfWork(self.db) as uow:
            await uow.repository(WrittenRepository).upsert_many(rows, conflict_fields=["sku"])

    async def increment(self, id: int) -> None:
        async with UnitOfWork(self.db) as uow:
            await uow.repository(ItemRepository).increment(id, "hits")
