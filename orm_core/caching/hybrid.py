"""`HybridCache`: entries in this process's memory and in Redis, versions in Redis only.

A memory hit still asks Redis for the tables' current tokens first (one round trip,
the entry's bytes stay local), so a commit in any process invalidates every process's
memory layer as surely as Redis itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from orm_core.caching.base import Cache, TableKey
from orm_core.caching.memory import MemoryCache
from orm_core.caching.redis_cache import RedisCache


class HybridCache(Cache):
    """Two layers: a `MemoryCache` in front of a `RedisCache` that holds the versions.

    Example:
        cache = HybridCache(MemoryCache(max_entries=5_000), RedisCache("redis://127.0.0.1"))
    """

    def __init__(self, memory: MemoryCache, redis: RedisCache) -> None:
        if not isinstance(memory, MemoryCache) or not isinstance(redis, RedisCache):
            raise TypeError("HybridCache takes a MemoryCache and a RedisCache")
        super().__init__()
        self.memory = memory
        self.redis = redis
        self.max_stale = redis.max_stale

    async def _fetch(self, tables: Sequence[TableKey], digest: str) -> tuple[str, str | None]:
        key, _ = await self.redis.fetch_versions(tables, digest)
        text = self.memory.entries.get(key)
        if text is None:
            text, left = await self.redis.fetch_entry(key)
            if text is not None:
                self.memory.entries.put(key, text, left)
        return key, text

    async def _store(self, key: str, text: str, ttl: float | None) -> None:
        life = self.max_stale if ttl is None else min(ttl, self.max_stale)
        self.memory.entries.put(key, text, life)
        await self.redis._store(key, text, ttl)

    async def _bump(self, tables: Sequence[TableKey]) -> None:
        await self.redis._bump(tables)

    async def close(self) -> None:
        """Drop the memory layer's entries and close the Redis connections."""
        self.memory.entries.clear()
        await self.redis.close()

    def __repr__(self) -> str:
        return f"HybridCache({self.memory!r}, {self.redis!r})"
