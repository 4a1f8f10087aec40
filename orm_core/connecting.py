"""How a URL and options become driver connection arguments: PgBouncer and URL query values.

Behind PgBouncer in transaction pooling mode a server connection serves a different
client after every transaction, so no prepared statement may outlive its transaction:
asyncpg's statement cache is turned off, SQLAlchemy's too, and the statements
SQLAlchemy prepares get names no other client can hold. PgBouncer also refuses
startup parameters it does not know, so timeouts are set per transaction instead.

asyncpg's numeric connection arguments written in the URL's query string
(`?statement_cache_size=0`) arrive as text; they are converted here.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from orm_core.errors import InvalidQueryError

PGBOUNCER_QUERY = "pgbouncer"
# asyncpg.connect() arguments that take numbers, and how to read them from text
_ASYNCPG_NUMBERS: dict[str, type] = {
    "statement_cache_size": int,
    "max_cached_statement_lifetime": int,
    "max_cacheable_statement_size": int,
    "prepared_statement_cache_size": int,
    "command_timeout": float,
    "timeout": float,
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def connection_options(
    url: URL, options: dict[str, Any], pgbouncer: bool | None
) -> tuple[URL, dict[str, Any], bool]:
    """The URL and engine options to connect with, and whether PgBouncer is in between.

    `pgbouncer=None` reads `?pgbouncer=true` from the URL (the parameter never reaches
    the driver).

    Raises:
        InvalidQueryError: a `pgbouncer` or numeric query value that cannot be read.
    """
    query = dict(url.query)
    raw = query.pop(PGBOUNCER_QUERY, None)
    if pgbouncer is None:
        pgbouncer = _flag(raw) if raw is not None else False
    if url.get_driver_name() != "asyncpg":
        return url.set(query=query), options, False
    connect_args = dict(options.get("connect_args") or {})
    for name, kind in _ASYNCPG_NUMBERS.items():
        if name in query:
            text = query.pop(name)
            try:
                connect_args.setdefault(name, kind(text if isinstance(text, str) else text[-1]))
            except ValueError as exc:
                raise InvalidQueryError(f"URL parameter {name}={text!r} is not a number") from exc
    if pgbouncer:
        connect_args.setdefault("statement_cache_size", 0)
        connect_args.setdefault("prepared_statement_cache_size", 0)
        connect_args.setdefault("prepared_statement_name_func", _unique_statement_name)
    if connect_args:
        options = {**options, "connect_args": connect_args}
    return url.set(query=query), options, pgbouncer


def own_engine(url: str | URL, **options: Any) -> AsyncEngine:
    """An engine of its own for one command (no pool), connecting the way the URL says
    (PgBouncer included); `options` go to `create_async_engine`."""
    connect_url, options, _ = connection_options(
        make_url(url), {"poolclass": NullPool, **options}, None
    )
    return create_async_engine(connect_url, **options)


def _unique_statement_name() -> str:
    return f"__orm_{uuid.uuid4().hex}__"


def _flag(raw: Any) -> bool:
    text = (raw if isinstance(raw, str) else raw[-1]).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidQueryError(f"URL parameter pgbouncer={raw!r} is not true or false")
