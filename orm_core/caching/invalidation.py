"""What a unit of work's commit does to the cache: bump the versions of what it wrote."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table

from orm_core.caching.base import Cache
from orm_core.caching.tables import write_keys


async def invalidate_written(database: Any, tables: Iterable[Table], schema: str | None) -> None:
    """Bump the versions of `tables` (and their cascades) in the database's cache.

    Called after the commit succeeded (or may have), before `commit` returns; never
    raises: a failure is logged and counted by the cache.
    """
    cache = getattr(database, "cache", None)
    written = set(tables)
    if not isinstance(cache, Cache) or not written:
        return
    await cache.invalidate(write_keys(written, schema, database.engine.dialect))
