"""The cache's hit path against the database read it saves, as users call both.

Each call is one unit of work: `async with UnitOfWork(db, read_only=True) as uow:
await uow.repository(Item).get(i)` against the same with `.cached().get(i)` on a
database configured with `MemoryCache`, `RedisCache` and `HybridCache` (every call a
hit: the 200 keys read are filled during the warm-up). Variants run interleaved, round
after round; `median` is one call's median time and `ratio` the variant's time over the
database read's (below 1.00x is faster; the note says how many times faster). Target:
the hit path at least 5x faster than the database read.

Runs on PostgreSQL (database `orm_bench_cache`, ORM_BENCH_POSTGRES_URL picks the server)
and SQLite; Redis is ORM_BENCH_REDIS_URL (default redis://127.0.0.1:6379/0), keys under
a prefix of the run's own, deleted at the end. Run: `python -m benchmarks cache`.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import asyncpg
from sqlalchemy import String
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from benchmarks.common import POSTGRES_URL, Row, print_table
from orm_core import Cache, Database, HybridCache, MemoryCache, RedisCache, UnitOfWork
from orm_repositories import AsyncRepository

DATABASE = "orm_bench_cache"
REDIS_URL = os.environ.get("ORM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
ROWS = 1_000
KEYS = 200
CALLS = 500
ROUNDS = int(os.environ.get("ORM_BENCH_ROUNDS", "7"))
TARGET = 5.0


class CacheBase(DeclarativeBase):
    """A declarative base of its own, so the benchmark table never meets the test models."""


class Item(CacheBase):
    __tablename__ = "bench_cache_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(50))
    price: Mapped[Decimal]
    stock: Mapped[int] = mapped_column(default=0)


async def _ensure_database() -> None:
    url = make_url(POSTGRES_URL)
    conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))
    try:
        found = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
        if not found:
            await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()


async def _prepare(db: Database) -> None:
    await db.drop_all(CacheBase.metadata)
    await db.create_all(CacheBase.metadata)
    async with UnitOfWork(db) as uow:
        rows = [{"sku": f"S{n}", "name": f"item {n}", "price": Decimal(n) / 100, "stock": n}
                for n in range(1, ROWS + 1)]  # fmt: skip
        await uow.repository(AsyncRepository[Item]).bulk_create(rows)


async def _calls(db: Database, cached: bool) -> float:
    """Seconds per `get`, each in its own read-only unit of work."""
    started = time.perf_counter()
    for n in range(CALLS):
        async with UnitOfWork(db, read_only=True) as uow:
            repo = uow.repository(AsyncRepository[Item])
            found = await (repo.cached() if cached else repo).get(1 + n % KEYS)
            assert found is not None
    return (time.perf_counter() - started) / CALLS


def _caches(prefix: str) -> dict[str, Cache]:
    caches: dict[str, Cache] = {"MemoryCache": MemoryCache(max_entries=10_000)}
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        client.ping()
        client.close()
    except Exception as exc:
        print(f"Redis unreachable at {REDIS_URL} ({exc}): RedisCache and HybridCache skipped")
        return caches
    caches["RedisCache"] = RedisCache(REDIS_URL, prefix=prefix)
    caches["HybridCache"] = HybridCache(MemoryCache(), RedisCache(REDIS_URL, prefix=prefix))
    return caches


def _forget(prefix: str) -> None:
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    except Exception:
        pass


async def _run(label: str, url: object) -> list[Row]:
    prefix = f"bench-cache-{uuid.uuid4().hex[:8]}"
    plain = Database(url)  # type: ignore[arg-type]
    await _prepare(plain)
    cached = {name: Database(url, cache=cache) for name, cache in _caches(prefix).items()}  # type: ignore[arg-type]
    variants = {"database read": (plain, False)}
    variants |= {f"cached().get() hit, {name}": (db, True) for name, db in cached.items()}
    samples: dict[str, list[float]] = {name: [] for name in variants}
    ratios: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for round_no in range(ROUNDS + 1):
            names = list(variants)
            names = names[round_no % len(names) :] + names[: round_no % len(names)]
            timings = {name: await _calls(*variants[name]) for name in names}
            if round_no:  # round 0 fills the caches and warms pools and statement caches
                for name, seconds in timings.items():
                    samples[name].append(seconds)
                    ratios[name].append(seconds / timings["database read"])
        for db in cached.values():
            stats = db.cache.stats() if db.cache else {}
            assert stats.get("hits", 0) >= ROUNDS * CALLS, stats
    finally:
        await plain.drop_all(CacheBase.metadata)
        await plain.dispose()
        for db in cached.values():
            await db.dispose()
        _forget(prefix)
    base = statistics.median(samples["database read"])
    rows = []
    for name in variants:
        ratio = statistics.median(ratios[name])
        note = "" if name == "database read" else f"{1 / ratio:.1f}x faster"
        if name != "database read":
            note += f"; target {TARGET:.0f}x [{'x' if 1 / ratio >= TARGET else ' '}]"
        rows.append(Row(f"{label}: get by id", name, statistics.median(samples[name]), base, note))
    return rows


async def main() -> None:
    """Print the hit path's time against the database read on PostgreSQL and SQLite."""
    rows: list[Row] = []
    try:
        await _ensure_database()
    except Exception as exc:
        print(f"PostgreSQL unreachable ({exc}): only SQLite runs")
    else:
        rows += await _run("PostgreSQL", make_url(POSTGRES_URL).set(database=DATABASE))
    with tempfile.TemporaryDirectory() as directory:
        rows += await _run("SQLite", f"sqlite+aiosqlite:///{Path(directory) / 'cache.db'}")
    print_table("Cache: the hit path against the database read (one unit of work per call)", rows)
