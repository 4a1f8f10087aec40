"""`RedisCache`: entries and table versions in Redis, shared by every process using it.

Each table has a version token under `{prefix}:v:{schema}:{table}`; an entry lives
under `{prefix}:e:{digest}:{token}:{token}…`, the tokens of the tables it was read
from. One Lua script reads the tokens and the entry in one round trip, creating a
missing token on the spot. Tokens are random and never reused, and each one expires
`max_stale` seconds after it was set: a token outlives no failed invalidation by more
than that, whatever happened to the process that failed to bump it. Entries expire
with their token at the latest, so Redis never fills up with unreachable ones.

redis-py's asyncio client is imported when a `RedisCache` is built (the `redis` extra).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
from collections.abc import Sequence
from typing import Any

from orm_core.caching.base import MAX_STALE, Cache, TableKey
from orm_core.errors import InvalidQueryError

_FETCH = """
local n = #KEYS
local entry = ARGV[n + 1]
local lease = ARGV[n + 2]
local out = {}
for i = 1, n do
  local token = redis.call('GET', KEYS[i])
  if not token then
    token = ARGV[i]
    redis.call('SET', KEYS[i], token, 'PX', lease)
  end
  out[i] = token
  entry = entry .. ':' .. token
end
out[n + 1] = entry
if ARGV[n + 3] == '1' then
  out[n + 2] = redis.call('GET', entry)
end
return out
"""
_SCHEMES = ("redis://", "rediss://", "unix://")


class RedisCache(Cache):
    """A cache in Redis, shared by every process that uses the same URL and prefix.

    Example:
        db = Database(url, cache=RedisCache("redis://127.0.0.1:6379/0", prefix="shop"))

    `timeout` bounds every Redis call (connecting included): a Redis that is down or
    hangs costs a read at most that long before it goes to the database. One prefix
    serves one database: processes sharing a prefix must share the database too.
    `max_stale` (at most 60 s) bounds how long entries outlive an invalidation that
    failed; it is also the longest an entry lives.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "orm",
        timeout: float = 0.2,
        max_stale: float = MAX_STALE,
        **redis_options: Any,
    ) -> None:
        try:
            import redis.asyncio  # noqa: F401
        except ImportError:  # pragma: no cover - depends on the install
            raise ImportError("RedisCache needs redis-py: pip install 'orm-kit[redis]'") from None
        super().__init__()
        if not isinstance(url, str) or not url.startswith(_SCHEMES):
            raise InvalidQueryError("the Redis URL must start with redis://, rediss:// or unix://")
        if not isinstance(prefix, str) or not prefix or any(c.isspace() for c in prefix):
            raise InvalidQueryError("prefix must be a non-empty string without spaces")
        self.url = url
        self.prefix = prefix
        self.timeout = _seconds("timeout", timeout, upper=math.inf)
        self.max_stale = _seconds("max_stale", max_stale, upper=MAX_STALE)
        self._options = redis_options
        self._redis: Any = None
        self._script: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- the storage ---------------------------------------------------------------------

    async def _fetch(self, tables: Sequence[TableKey], digest: str) -> tuple[str, str | None]:
        found = await self.fetch_versions(tables, digest, entry=True)
        return found

    async def fetch_versions(
        self, tables: Sequence[TableKey], digest: str, *, entry: bool = False
    ) -> tuple[str, str | None]:
        """Return the entry key the tables' current tokens give, and (if asked) its text."""
        _, script = self._client()
        args = [*(_token() for _ in tables), f"{self.prefix}:e:{digest}", self._lease_ms()]
        async with asyncio.timeout(self.timeout * 4):
            reply = await script(keys=self._version_keys(tables), args=[*args, int(entry)])
        key = reply[len(tables)].decode()
        text = reply[len(tables) + 1] if entry and len(reply) > len(tables) + 1 else None
        return key, text.decode() if text is not None else None

    async def fetch_entry(self, key: str) -> tuple[str | None, float | None]:
        """Return an entry's text and the seconds it has left (None: no expiry)."""
        client, _ = self._client()
        async with asyncio.timeout(self.timeout * 4):
            async with client.pipeline(transaction=False) as pipe:
                text, left = await pipe.get(key).pttl(key).execute()
        if text is None:
            return None, None
        return text.decode(), (left / 1000.0 if left is not None and left >= 0 else None)

    async def _store(self, key: str, text: str, ttl: float | None) -> None:
        client, _ = self._client()
        life = self.max_stale if ttl is None else min(ttl, self.max_stale)
        async with asyncio.timeout(self.timeout * 4):
            await client.set(key, text, px=max(1, int(life * 1000)))

    async def _bump(self, tables: Sequence[TableKey]) -> None:
        client, _ = self._client()
        lease = self._lease_ms()
        async with asyncio.timeout(self.timeout * 4):
            async with client.pipeline(transaction=False) as pipe:
                for key in self._version_keys(tables):
                    pipe.set(key, _token(), px=lease)
                await pipe.execute()

    async def close(self) -> None:
        """Close the connections of this event loop's client."""
        client, self._redis, self._loop = self._redis, None, None
        if client is not None:
            with contextlib.suppress(Exception):  # a client of a loop that is gone
                await client.aclose()

    # -- helpers -------------------------------------------------------------------------

    def _client(self) -> tuple[Any, Any]:
        # redis-py's asyncio connections belong to the loop that made them
        loop = asyncio.get_running_loop()
        if self._redis is None or self._loop is not loop:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            options: dict[str, Any] = {
                "socket_timeout": self.timeout,
                "socket_connect_timeout": self.timeout,
                "retry": Retry(NoBackoff(), 0),
                **self._options,
            }
            self._redis = Redis.from_url(self.url, **options)
            self._script = self._redis.register_script(_FETCH)
            self._loop = loop
        return self._redis, self._script

    def _version_keys(self, tables: Sequence[TableKey]) -> list[str]:
        return [f"{self.prefix}:v:{schema}:{name}" for schema, name in tables]

    def _lease_ms(self) -> int:
        return max(1, int(self.max_stale * 1000))

    def __repr__(self) -> str:
        return f"RedisCache(prefix={self.prefix!r})"


def _token() -> str:
    return secrets.token_hex(8)


def _seconds(name: str, value: Any, *, upper: float) -> float:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not 0 < value <= upper:
        raise InvalidQueryError(f"{name} must be a positive number of seconds up to {upper}")
    return float(value)
