"""`MemoryCache`: entries and table versions in this process, least recently used first out."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

from orm_core.caching.base import Cache, TableKey
from orm_core.errors import InvalidQueryError


class EntryStore:
    """A bounded map of entry key to text, each with an expiry (the memory layer)."""

    def __init__(self, max_entries: int) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise InvalidQueryError(
                "max_entries must be a positive integer", {"max_entries": max_entries}
            )
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        """The entry's text, or None when it is missing or expired."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if found[0] <= time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return found[1]

    def put(self, key: str, text: str, ttl: float | None) -> None:
        """Store an entry, dropping the least recently used ones past `max_entries`."""
        expires = time.monotonic() + ttl if ttl is not None else float("inf")
        with self._lock:
            self._entries[key] = (expires, text)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class MemoryCache(Cache):
    """A cache in this process's memory, for one process (tests, a single worker).

    Example:
        db = Database("sqlite+aiosqlite:///./app.db", cache=MemoryCache(max_entries=10_000))

    Its versions live in the process too, so commits of other processes do not reach
    it: with several processes, use `RedisCache` or `HybridCache`.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        super().__init__()
        self.entries = EntryStore(max_entries)
        self._versions: dict[TableKey, int] = {}

    async def _fetch(self, tables: Sequence[TableKey], digest: str) -> tuple[str, str | None]:
        tokens = [str(self._versions.get(table, 0)) for table in tables]
        key = ":".join([digest, *tokens])
        return key, self.entries.get(key)

    async def _store(self, key: str, text: str, ttl: float | None) -> None:
        self.entries.put(key, text, ttl)

    async def _bump(self, tables: Sequence[TableKey]) -> None:
        for table in tables:
            self._versions[table] = self._versions.get(table, 0) + 1

    async def close(self) -> None:
        """Drop every entry (versions are kept, so nothing stale can come back)."""
        self.entries.clear()

    def __repr__(self) -> str:
        return f"MemoryCache(max_entries={self.entries.max_entries})"
