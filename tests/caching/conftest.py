"""Fixtures for the cache tests: a real Redis, a private key prefix, cached databases.

Redis is the one at ORM_TEST_REDIS_URL (default redis://127.0.0.1:6379/0); each test
gets its own key prefix and deletes its keys afterwards (never FLUSHALL: the server is
shared). Without Redis the Redis tests skip, unless ORM_REQUIRE_REDIS=1.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from orm_core import Cache, Database, HybridCache, MemoryCache, RedisCache

REDIS_URL = os.environ.get("ORM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("ORM_REQUIRE_REDIS") == "1"


def _redis_reachable() -> bool:
    try:
        import redis
    except ImportError:
        return False
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        client.ping()
        client.close()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis URL; skips (or fails with ORM_REQUIRE_REDIS=1) when unreachable."""
    if not _redis_reachable():
        if REQUIRE_REDIS:
            pytest.fail(f"Redis is required (ORM_REQUIRE_REDIS=1) but unreachable at {REDIS_URL}")
        pytest.skip(f"Redis unreachable at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    import redis

    name = f"orm-test-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def make_cache(redis_url: str, prefix: str) -> Callable[..., Cache]:
    """Build a cache of a kind ("memory", "redis", "hybrid") on this test's prefix."""

    def make(kind: str, **options: object) -> Cache:
        if kind == "memory":
            return MemoryCache(max_entries=1000)
        # the default 0.2 s is a service's latency budget; on a loaded CI machine one slow
        # connect would make the cache step aside and a test counting hits fail. The tests
        # of that stepping aside set their own timeouts.
        options.setdefault("timeout", 2.0)
        redis = RedisCache(redis_url, prefix=prefix, **options)  # type: ignore[arg-type]
        return redis if kind == "redis" else HybridCache(MemoryCache(max_entries=1000), redis)

    return make


@pytest.fixture(params=["memory", "redis", "hybrid"])
def cache_kind(request: pytest.FixtureRequest) -> str:
    """Each kind of cache in turn."""
    return str(request.param)


@pytest.fixture
async def cached_db(
    database: Database, cache_kind: str, make_cache: Callable[..., Cache]
) -> AsyncIterator[Database]:
    """A second `Database` on the test database, with a cache of each kind."""
    db = Database(database.url, cache=make_cache(cache_kind))
    yield db
    await db.dispose()


def free_port() -> int:
    """A loopback port nothing listens on (taken from the OS, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def hanging_redis() -> AsyncIterator[str]:
    """A TCP server that accepts connections and never answers: a hung Redis."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read(1 << 20)  # read what comes, answer nothing

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"redis://127.0.0.1:{port}/0"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()
