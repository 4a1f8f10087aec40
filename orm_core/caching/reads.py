"""The read-through path every cached read takes: versions, entry, database, fill.

The order is the whole guarantee. The tables' version tokens are read *before* the
database, and the entry is keyed by them: a reader that read the old tokens, then the
old rows, and fills after a writer's commit bumped the tokens, fills a key nobody will
read again. A read that starts after `commit` returned reads the new tokens, so it
finds only entries filled from snapshots taken after the bump, or goes to the database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from orm_core.caching import codec
from orm_core.caching.base import Cache, CacheUnavailableError, TableKey, logger
from orm_core.caching.policy import Mode

ResultT = TypeVar("ResultT")


@dataclass(frozen=True, slots=True)
class CachedRead:
    """One read through a cache: what identifies it, the tables it depends on, its ttl."""

    cache: Cache
    tables: Sequence[TableKey]
    material: str
    ttl: float | None
    mode: Mode


async def read_through(
    read: CachedRead,
    compute: Callable[[], Awaitable[ResultT]],
    encode: Callable[[ResultT], Any],
    decode: Callable[[Any], ResultT],
) -> ResultT:
    """Serve `read` from the cache, else from `compute()`, filling the cache when allowed.

    `encode` turns the result into JSON-able data (raising `codec.UnencodableError` when
    it cannot be cached faithfully); `decode` turns such data back into a result. No
    cache failure ever reaches the caller: it degrades to `compute()`.
    """
    cache = read.cache
    if read.mode is Mode.BYPASS or not cache.usable(read.tables):
        return await compute()
    try:
        key, text = await cache.lookup(read.tables, read.material)
    except CacheUnavailableError:
        return await compute()
    if text is not None:
        try:
            result = decode(codec.loads(text))
        except codec.CorruptEntryError:
            logger.warning("a cache entry did not decode; reading from the database")
            cache.count("errors")
        else:
            cache.count("hits")
            return result
    result = await compute()
    if read.mode is not Mode.FILL:
        return result
    try:
        text = codec.dumps(encode(result))
    except (codec.UnencodableError, TypeError, ValueError):
        return result
    cache.count("misses")
    await cache.fill(key, text, read.ttl)
    return result
