"""Tortoise ORM: its own connection setup (`Tortoise.init`) and its QuerySet API."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy.engine import URL
from tortoise import Tortoise
from tortoise.expressions import F, RawSQL
from tortoise.transactions import in_transaction

from benchmarks.peers.base import Peer
from benchmarks.peers.tortoise_models import TortoiseItem, TortoiseWritten

UPDATED = ["name", "category", "price", "stock"]


def tortoise_url(url: URL) -> str:
    """The same database as a Tortoise `db_url`, with a pool of 20 on PostgreSQL."""
    if url.get_backend_name() == "sqlite":
        return f"sqlite://{url.database}"
    auth = url.username or ""
    if url.password:
        auth += f":{url.password}"
    host = f"{url.host or '127.0.0.1'}:{url.port or 5432}"
    return f"postgres://{auth}@{host}/{url.database}?minsize=1&maxsize=20"


class TortoisePeer(Peer):
    """Model class methods and QuerySets; writes of many rows inside `in_transaction()`.

    Tortoise keeps its connections in global state, so `start` and `stop` run once per
    backend.
    """

    name: ClassVar[str] = "Tortoise ORM"
    footnotes: ClassVar[dict[str, str]] = {
        "deep page": "no keyset pagination: `.offset().limit()`",
        "random sample": "no sampling: `.annotate(r=RawSQL('RANDOM()')).order_by('r')`",
        "upsert": "`bulk_create(on_conflict=[...], update_fields=[...])`",
        "hot-row counter": "`filter(id=…).update(hits=F('hits') + 1)`, one statement",
    }

    async def start(self, url: URL) -> None:
        # Tortoise caches each model's SQL by connection name, not by dialect: a name per
        # backend keeps PostgreSQL's placeholders away from SQLite in the same process
        self.connection = f"peers_{url.get_backend_name()}"
        models = {"models": ["benchmarks.peers.tortoise_models"],
                  "default_connection": self.connection}
        await Tortoise.init(config={
            "connections": {self.connection: tortoise_url(url)},
            "apps": {"models": models},
        })

    async def stop(self) -> None:
        await Tortoise.close_connections()

    async def release(self) -> None:
        # the client opens its pool again on the next query
        await Tortoise.get_connection(self.connection).close()

    async def get(self, id: int) -> tuple[int, str]:
        item = await TortoiseItem.get(id=id)
        return item.id, item.sku

    async def get_many(self, ids: Sequence[int]) -> list[int]:
        return [i.id for i in await TortoiseItem.filter(id__in=list(ids))]

    async def list_filtered(self, category: str, min_price: Decimal, limit: int) -> list[int]:
        query = TortoiseItem.filter(category=category, price__gt=min_price)
        return [i.id for i in await query.order_by("id").limit(limit)]

    async def paginate(self, category: str, page: int, size: int) -> tuple[int, list[int]]:
        query = TortoiseItem.filter(category=category)
        total = await query.count()
        items = await query.order_by("id").offset((page - 1) * size).limit(size)
        return total, [i.id for i in items]

    async def deep_page(self, after_id: int, size: int) -> list[int]:
        # ids are 1..N without gaps, so OFFSET after_id starts right after row after_id
        items = await TortoiseItem.all().order_by("id").offset(after_id).limit(size)
        return [i.id for i in items]

    async def sample(self, n: int) -> list[int]:
        query = TortoiseItem.annotate(r=RawSQL("RANDOM()")).order_by("r").limit(n)
        return [i.id for i in await query]

    async def bulk_insert(self, rows: list[dict[str, Any]]) -> None:
        async with in_transaction():
            await TortoiseWritten.bulk_create(
                [TortoiseWritten(**row) for row in rows], batch_size=1000
            )

    async def upsert(self, rows: list[dict[str, Any]]) -> None:
        async with in_transaction():
            await TortoiseWritten.bulk_create(
                [TortoiseWritten(**row) for row in rows],
                batch_size=1000,
                on_conflict=["sku"],
                update_fields=UPDATED,
            )

    async def increment(self, id: int) -> None:
        await TortoiseItem.filter(id=id).update(hits=F("hits") + 1)
