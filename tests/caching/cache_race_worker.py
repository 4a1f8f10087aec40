"""One side of the two-process cache test: `writer` or `reader` (see test_processes.py).

writer: commits `stock = i` for i = 1..N on product 1, one unit of work each, and
    records after each `commit` returned: "i monotonic_ns".
reader: until it has read the writer's last value (and made at least N reads), records
    "start_ns stock" for reads through the cache, the start taken before the read begins.
Both print their cache's stats as JSON on their last line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from orm_core import Database, HybridCache, MemoryCache, RedisCache, UnitOfWork
from orm_repositories import AsyncRepository
from tests.models import Product


def make_cache(kind: str, redis_url: str, prefix: str) -> RedisCache | HybridCache:
    redis = RedisCache(redis_url, prefix=prefix)
    return redis if kind == "redis" else HybridCache(MemoryCache(), redis)


async def writer(db: Database, count: int) -> list[str]:
    lines = []
    for value in range(1, count + 1):
        async with UnitOfWork(db) as uow:
            await uow.repository(AsyncRepository[Product]).update(1, stock=value)
        lines.append(f"{value} {time.monotonic_ns()}")  # the commit has returned
    return lines


async def reader(db: Database, count: int) -> list[str]:
    lines = []
    seen = 0
    while len(lines) < count or seen < count:  # the writer's last value ends the run
        started = time.monotonic_ns()  # before the read begins
        async with UnitOfWork(db, read_only=True) as uow:
            found = await uow.repository(AsyncRepository[Product]).cached(ttl=None).get_one(1)
        seen = found.stock
        lines.append(f"{started} {seen}")
    return lines


async def run(role: str, url: str, kind: str, redis_url: str, prefix: str) -> tuple[list[str], str]:
    db = Database(url, cache=make_cache(kind, redis_url, prefix))
    lines = await (writer if role == "writer" else reader)(db, 2000)
    assert db.cache is not None
    stats = json.dumps(db.cache.stats())
    await db.dispose()
    return lines, stats


if __name__ == "__main__":
    role, url, kind, redis_url, prefix, folder = sys.argv[1:7]
    lines, stats = asyncio.run(run(role, url, kind, redis_url, prefix))
    Path(folder, f"{role}.txt").write_text("\n".join(lines))
    print(stats)
