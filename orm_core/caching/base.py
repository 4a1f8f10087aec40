"""`Cache`: what every cache backend shares — the counters, failure handling, table keys.

A backend stores two kinds of things: one version token per (schema, table), and
entries whose keys end with the tokens of the tables they were read from. A commit
that wrote a table replaces its token, so every entry read from the old table state
is unreachable at once, in every process that reads the same tokens. A backend only
implements `_fetch`, `_store`, `_bump` and `close`; what happens when one fails is
decided here, once: the failure is logged and counted, reads go to the database for a
short backoff period, and a table whose invalidation failed is read from the database
by this process until the failure can no longer matter (`max_stale` seconds).
"""

from __future__ import annotations

import hashlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence

from orm_core.errors import InvalidQueryError

logger = logging.getLogger("orm_core.cache")

TableKey = tuple[str, str]
"""A table's version key: (schema, table name); the schema is "" for the default one."""

STATS = ("hits", "misses", "sets", "invalidations", "errors")
MAX_STALE = 60.0
_FIRST_BACKOFF = 1.0
_LAST_BACKOFF = 30.0


class Cache(ABC):
    """A store of query results keyed by the versions of the tables they were read from.

    `stats()` counts, since creation: `hits` (reads served by the cache, any layer),
    `misses` (reads that went to the database and then filled the cache), `sets`
    (entries written), `invalidations` (one per table bumped by one commit) and
    `errors` (failed cache operations). Reads that bypass the cache count as neither
    hit nor miss.
    """

    max_stale: float = MAX_STALE

    def __init__(self) -> None:
        self._counts = dict.fromkeys(STATS, 0)
        self._suspect: dict[TableKey, float] = {}
        self._down_until = 0.0
        self._backoff = 0.0

    def stats(self) -> dict[str, int]:
        """Return the counters: hits, misses, sets, invalidations, errors."""
        return dict(self._counts)

    def reset_stats(self) -> None:
        """Set every counter back to zero."""
        self._counts = dict.fromkeys(STATS, 0)

    # -- what a backend implements (each raises on failure) -----------------------------

    @abstractmethod
    async def _fetch(self, tables: Sequence[TableKey], digest: str) -> tuple[str, str | None]:
        """Read the tables' current tokens; return the entry key they give and its text."""

    @abstractmethod
    async def _store(self, key: str, text: str, ttl: float | None) -> None:
        """Store an entry's text under `key` for at most `ttl` seconds (None: no limit)."""

    @abstractmethod
    async def _bump(self, tables: Sequence[TableKey]) -> None:
        """Give each table a new token, so no existing entry of it is read again."""

    @abstractmethod
    async def close(self) -> None:
        """Release the backend's connections (the cache can still be used afterwards)."""

    # -- what the read path and the unit of work call ------------------------------------

    def usable(self, tables: Iterable[TableKey]) -> bool:
        """Whether a read of these tables may use the cache now (no backoff, no suspect)."""
        now = time.monotonic()
        if now < self._down_until:
            return False
        if self._suspect:
            for table in tables:
                until = self._suspect.get(table)
                if until is not None:
                    if now < until:
                        return False
                    del self._suspect[table]
        return True

    async def lookup(self, tables: Sequence[TableKey], material: str) -> tuple[str, str | None]:
        """Return the entry key for a read and the entry's text, if there is one.

        Raises:
            CacheUnavailableError: the backend failed (already logged and counted).
        """
        try:
            found = await self._fetch(tables, digest(tables, material))
        except Exception as exc:
            raise self._failed("a cache read", exc) from exc
        self._backoff = 0.0
        return found

    async def fill(self, key: str, text: str, ttl: float | None) -> bool:
        """Store an entry; False (logged and counted) when the backend failed."""
        try:
            await self._store(key, text, ttl)
        except Exception as exc:
            self._failed("a cache write", exc)
            return False
        self.count("sets")
        return True

    async def invalidate(self, tables: Iterable[TableKey]) -> None:
        """Bump the tables' versions; never raises.

        A failure is logged and counted, and the tables are read from the database by
        this process until the entries keyed by their old tokens have expired
        (`max_stale` seconds); the bump is tried again with the next invalidation.
        """
        wanted = set(tables)
        if not wanted:
            return
        now = time.monotonic()
        retried = {t for t, until in self._suspect.items() if until > now}
        try:
            await self._bump(sorted(wanted | retried))
        except Exception as exc:
            self._failed("a cache invalidation", exc, log=logging.ERROR)
            until = now + self.max_stale
            for table in wanted:
                self._suspect[table] = max(self._suspect.get(table, 0.0), until)
            return
        for table in wanted | retried:
            self._suspect.pop(table, None)
        self.count("invalidations", len(wanted))

    def count(self, name: str, amount: int = 1) -> None:
        """Add to one of the counters."""
        self._counts[name] += amount

    def _failed(self, what: str, exc: Exception, *, log: int = logging.WARNING) -> Exception:
        self.count("errors")
        self._backoff = min(max(self._backoff * 2, _FIRST_BACKOFF), _LAST_BACKOFF)
        self._down_until = time.monotonic() + self._backoff
        logger.log(
            log,
            "%s failed (%s: %s); reads go to the database for %.0f s",
            what,
            type(exc).__name__,
            exc,
            self._backoff,
        )
        return CacheUnavailableError(f"{what} failed")


class CacheUnavailableError(Exception):
    """The cache backend failed; the caller reads from the database instead."""


def digest(tables: Sequence[TableKey], material: str) -> str:
    """A short, stable hash of what identifies a read and the tables it depends on."""
    text = "\x1f".join([material, *(f"{schema}\x1e{name}" for schema, name in tables)])
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def check_ttl(ttl: object) -> float | None:
    """Check an entry's maximum age in seconds (None: until invalidated).

    Raises:
        InvalidQueryError: a ttl that is not a positive number or None.
    """
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl < float("inf"):
        raise InvalidQueryError("ttl must be a positive number of seconds or None", {"ttl": ttl})
    return float(ttl)


def check_cache(cache: object) -> Cache | None:
    """Check the `cache=` given to a `Database`.

    Raises:
        InvalidQueryError: something that is not a `Cache` (nor None).
    """
    if cache is None or isinstance(cache, Cache):
        return cache
    raise InvalidQueryError(
        "cache must be a MemoryCache, RedisCache or HybridCache", {"cache": repr(cache)}
    )
