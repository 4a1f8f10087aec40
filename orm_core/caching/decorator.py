"""`@cached(ttl=..., tables=[...])`: cache what an async query function returns.

For queries no repository method expresses (a report, a join, raw SQL). The function
names the tables it reads; its result (JSON-able: dicts, lists, numbers, strings,
decimals, datetimes, UUIDs …) is keyed by its arguments, the unit's tenant and schema,
and those tables' versions, so a commit that writes any of them invalidates it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, NamedTuple, ParamSpec, TypeVar

from sqlalchemy import Table
from sqlalchemy import inspect as orm_inspect
from sqlalchemy.ext.asyncio import AsyncSession

from orm_core.caching import codec
from orm_core.caching.base import check_ttl
from orm_core.caching.policy import DATABASE_KEY, Mode, read_mode, unit_schema
from orm_core.caching.reads import CachedRead, read_through
from orm_core.caching.tables import read_keys
from orm_core.errors import InvalidQueryError
from orm_core.session import CONTEXT_KEY

ParamsT = ParamSpec("ParamsT")
ResultT = TypeVar("ResultT")


class TableName(NamedTuple):
    """A table named by a string: `"products"` or `"schema.products"`."""

    name: str
    schema: str | None


def cached(
    *, ttl: float | None = 60, tables: Sequence[str | Table | type]
) -> Callable[[Callable[ParamsT, Awaitable[ResultT]]], Callable[ParamsT, Awaitable[ResultT]]]:
    """Cache the result of an async function that reads `tables`.

    Example:
        @cached(ttl=30, tables=["orders", "products"])
        async def best_sellers(uow: UnitOfWork, limit: int) -> list[dict]:
            return await uow.database.fetch_all(SQL, {"limit": limit})

    One argument gives the cache and the context: a `UnitOfWork`, an `AsyncSession`,
    a repository, or a `Database`; the others (and keyword arguments) make the key and
    must be JSON-able values (else the call is not cached). `tables` holds table names,
    `Table` objects or models. The cache rules of repository reads apply: no filling
    from REPEATABLE READ units, a table the unit wrote is read from the database.

    Raises:
        InvalidQueryError: a bad `ttl` or no tables.
        TypeError: decorating something that is not a coroutine function.
    """
    limit = check_ttl(ttl)
    names = _tables(tables)

    def decorate(
        function: Callable[ParamsT, Awaitable[ResultT]],
    ) -> Callable[ParamsT, Awaitable[ResultT]]:
        if not inspect.iscoroutinefunction(function):
            raise TypeError("@cached decorates async functions (coroutine functions)")
        identity = f"{function.__module__}.{function.__qualname__}"

        @functools.wraps(function)
        async def wrapper(*args: ParamsT.args, **kwargs: ParamsT.kwargs) -> ResultT:
            read = _read(identity, names, limit, args, kwargs)
            if read is None:
                return await function(*args, **kwargs)
            return await read_through(
                read, lambda: function(*args, **kwargs), codec.encode, codec.decode
            )

        return wrapper

    return decorate


def _read(
    identity: str,
    names: list[Table | TableName],
    ttl: float | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> CachedRead | None:
    found = _context(args, kwargs)
    if found is None:
        return None
    database, session, position = found
    cache = getattr(database, "cache", None)
    if cache is None:
        return None
    schema = unit_schema(session) if session is not None else None
    keys = read_keys(names, schema, database.engine.dialect)
    if keys is None:
        return None
    mode = read_mode(session, keys) if session is not None else Mode.FILL
    context = session.info.get(CONTEXT_KEY) if session is not None else None
    tenant = getattr(context, "tenant", None)
    rest = [a for i, a in enumerate(args) if i != position]
    values = {k: v for k, v in sorted(kwargs.items()) if k != position}
    try:
        material = codec.dumps(
            [identity, None if tenant is None else str(tenant), codec.encode(rest),
             codec.encode(values)]
        )  # fmt: skip
    except (codec.UnencodableError, TypeError, ValueError):
        return None
    return CachedRead(cache, keys, material, ttl, mode)


def _context(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, AsyncSession | None, int | str] | None:
    """The database, the session (if any) and the position of the context argument."""
    from orm_core.database import Database
    from orm_core.unit_of_work import UnitOfWork

    candidates: Iterable[tuple[int | str, Any]] = [*enumerate(args), *kwargs.items()]
    for position, value in candidates:
        session: Any = None
        if isinstance(value, Database):
            return value, None, position
        if isinstance(value, UnitOfWork):
            session = value.session
        elif isinstance(value, AsyncSession):
            session = value
        elif isinstance(getattr(value, "session", None), AsyncSession):
            session = value.session
        if session is not None:
            return session.info.get(DATABASE_KEY), session, position
    return None


def _tables(tables: Any) -> list[Table | TableName]:
    if isinstance(tables, str | Table) or not isinstance(tables, Sequence) or not tables:
        raise InvalidQueryError("@cached needs tables=[...]: the tables the function reads")
    found: list[Table | TableName] = []
    for item in tables:
        if isinstance(item, Table):
            found.append(item)
        elif isinstance(item, str) and item.strip():
            schema, _, name = item.strip().rpartition(".")
            found.append(TableName(name, schema or None))
        elif isinstance(item, type) and orm_inspect(item, raiseerr=False) is not None:
            mapped: Any = orm_inspect(item)
            found.extend(t for t in mapped.tables if isinstance(t, Table))
        else:
            raise InvalidQueryError(f"@cached tables take names, tables or models, not {item!r}")
    return found
