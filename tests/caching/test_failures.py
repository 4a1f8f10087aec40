"""A Redis that is down or hangs degrades to database reads; a failed invalidation is bounded."""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal

import pytest

from orm_core import Database, HybridCache, MemoryCache, RedisCache, UnitOfWork
from orm_repositories import AsyncRepository  # noqa: F401 - registers uow.repository(Model)
from tests.caching.conftest import free_port
from tests.models import Product


async def seed(db: Database) -> None:
    async with UnitOfWork(db) as uow:
        await uow.repository(Product).create(sku="S1", name="first", price=Decimal(1))


async def name_of(db: Database, *, ttl: float | None = 60) -> str:
    async with UnitOfWork(db, read_only=True) as uow:
        return (await uow.repository(Product).cached(ttl=ttl).get_one(1)).name


async def rename(db: Database, name: str) -> None:
    async with UnitOfWork(db) as uow:
        await uow.repository(Product).update(1, name=name)


@pytest.mark.parametrize("layers", ["redis", "hybrid"])
async def test_an_unreachable_redis_degrades_to_database_reads(database, caplog, layers):
    redis = RedisCache(f"redis://127.0.0.1:{free_port()}/0", prefix="down")
    cache = redis if layers == "redis" else HybridCache(MemoryCache(), redis)
    db = Database(database.url, cache=cache)
    with caplog.at_level(logging.WARNING, logger="orm_core.cache"):
        await seed(db)  # the invalidation fails: logged and counted, the commit returns
        assert await name_of(db) == "first"
        await rename(db, "second")
        assert await name_of(db) == "second"
    counts = cache.stats()
    assert counts["hits"] == counts["misses"] == counts["sets"] == counts["invalidations"] == 0
    assert counts["errors"] >= 2
    assert any("invalidation failed" in r.getMessage() for r in caplog.records)
    await db.dispose()


async def test_a_hanging_redis_costs_at_most_its_timeout(database, hanging_redis, caplog):
    cache = RedisCache(hanging_redis, prefix="hung", timeout=0.3)
    db = Database(database.url, cache=cache)

    async def timed(work) -> float:
        started = time.monotonic()
        await work
        return time.monotonic() - started

    await seed(database)
    with caplog.at_level(logging.WARNING, logger="orm_core.cache"):
        assert 0.25 < await timed(name_of(db)) < 2.0  # waits for the timeout, then reads
        assert cache.stats()["errors"] == 1
        await name_of(db)  # backing off: straight to the database, Redis not tried
        assert cache.stats()["errors"] == 1
        await asyncio.sleep(1.1)  # the backoff is over: the next read tries Redis again
        assert 0.25 < await timed(name_of(db)) < 2.0
        assert cache.stats()["errors"] == 2
        assert await timed(rename(db, "second")) < 2.0  # the invalidation times out
        assert await name_of(db) == "second"
    assert cache.stats()["errors"] == 3
    assert cache.stats()["hits"] == cache.stats()["misses"] == 0
    await db.dispose()


async def test_reads_use_redis_again_once_it_answers(database, redis_url, prefix):
    cache = RedisCache(redis_url, prefix=prefix)
    db = Database(database.url, cache=cache)
    await seed(db)
    cache._down_until = time.monotonic() + 0.3  # as after a failure
    assert await name_of(db) == "first"
    assert cache.stats()["misses"] == 0  # bypassed during the backoff
    await asyncio.sleep(0.35)
    assert await name_of(db) == "first"
    assert await name_of(db) == "first"
    assert (cache.stats()["misses"], cache.stats()["hits"]) == (1, 1)
    await db.dispose()


@pytest.mark.parametrize("ttl", [0.5, None])
async def test_after_a_failed_invalidation_entries_are_served_for_at_most_min_ttl_60(
    database, redis_url, prefix, ttl, caplog
):
    # a reader on a healthy Redis, and a writer whose Redis is unreachable (a partition)
    reader = Database(database.url, cache=RedisCache(redis_url, prefix=prefix, max_stale=1.0))
    writer = Database(
        database.url, cache=RedisCache(f"redis://127.0.0.1:{free_port()}", prefix=prefix)
    )
    await seed(writer)
    assert await name_of(reader, ttl=ttl) == "first"  # filled
    started = time.monotonic()  # no later than the window opens
    with caplog.at_level(logging.ERROR, logger="orm_core.cache"):
        await rename(writer, "second")  # commits; the bump fails
    assert writer.cache.stats()["errors"] == 2
    assert "invalidation failed" in caplog.text
    assert await name_of(reader, ttl=ttl) == "first"  # stale: the failure's window
    while await name_of(reader, ttl=ttl) == "first":  # noqa: ASYNC110 - polling the database
        await asyncio.sleep(0.05)
    # ttl 0.5 s, or the 1 s version lease (max_stale; 60 s unless lowered), plus the time
    # the reads themselves take on a loaded machine
    assert time.monotonic() - started < (ttl or 1.0) + 1.0
    await reader.dispose()
    await writer.dispose()


async def test_a_process_whose_invalidation_failed_reads_that_table_from_the_database(
    database, redis_url, prefix
):
    cache = RedisCache(redis_url, prefix=prefix)
    db = Database(database.url, cache=cache)
    await seed(db)
    assert await name_of(db) == "first"
    healthy = cache._bump

    async def broken(tables):
        raise ConnectionError("redis went away")

    cache._bump = broken  # the next invalidation fails, reads still work
    await rename(db, "second")
    cache._down_until = 0.0
    assert await name_of(db) == "second"  # not the stale entry
    cache._bump = healthy
    await rename(db, "third")  # retries the failed table's bump too
    assert not cache._suspect
    assert await name_of(db) == "third"
    await db.dispose()


async def test_a_hybrid_memory_hit_checks_the_versions_in_redis(database, redis_url, prefix):
    # two processes: each its own memory layer, one Redis
    first = Database(
        database.url, cache=HybridCache(MemoryCache(), RedisCache(redis_url, prefix=prefix))
    )
    second = Database(
        database.url, cache=HybridCache(MemoryCache(), RedisCache(redis_url, prefix=prefix))
    )
    await seed(first)
    assert await name_of(first) == "first"
    assert await name_of(first) == "first"  # a memory hit
    assert await name_of(second) == "first"  # a Redis hit, now in its memory too
    await rename(second, "second")
    assert await name_of(first) == "second"
    assert await name_of(second) == "second"
    assert first.cache.stats()["hits"] == 1
    assert second.cache.stats()["hits"] == 2  # before, and the entry `first` filled after
    await first.dispose()
    await second.dispose()


async def test_dispose_closes_the_cache_and_it_can_be_used_again(database, redis_url, prefix):
    cache = RedisCache(redis_url, prefix=prefix)
    db = Database(database.url, cache=cache)
    await seed(db)
    assert await name_of(db) == "first"
    await db.dispose()
    assert cache._redis is None
    assert await name_of(db) == "first"
    assert cache.stats()["hits"] == 1
    await db.dispose()


async def test_entries_are_json_never_pickles(database, redis_url, prefix):
    import redis

    db = Database(database.url, cache=RedisCache(redis_url, prefix=prefix))
    await seed(db)
    await name_of(db)
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:e:*"))
    assert len(keys) == 1
    value = client.get(keys[0])
    client.close()
    assert value.startswith(b"[") and b'"first"' in value
    await db.dispose()


def test_bad_redis_settings_are_refused():
    from orm_core import InvalidQueryError

    with pytest.raises(InvalidQueryError):
        RedisCache("http://127.0.0.1")
    with pytest.raises(InvalidQueryError):
        RedisCache("redis://127.0.0.1", prefix="")
    with pytest.raises(InvalidQueryError):
        RedisCache("redis://127.0.0.1", max_stale=61)
    with pytest.raises(InvalidQueryError):
        RedisCache("redis://127.0.0.1", timeout=0)
    with pytest.raises(InvalidQueryError):
        MemoryCache(max_entries=0)
    with pytest.raises(TypeError):
        HybridCache(MemoryCache(), MemoryCache())  # type: ignore[arg-type]
