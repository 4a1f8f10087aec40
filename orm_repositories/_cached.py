"""`repo.cached(ttl=60)`: the same repository, its reads going through the database's cache.

`cached_repository` returns an instance of a subclass of the repository's own class
(made once per class), so custom methods built on the read methods are cached too and
`isinstance` still holds. Each read method here builds the read's key (`ReadKey`),
picks how its result is written into an entry and read back, and hands both to
`orm_core.caching.reads.read_through`; anything it cannot key faithfully (loader
options, raw SQL text, values the codec does not know) simply reads the database.
Writes are the repository's own.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from orm_core.caching import codec
from orm_core.caching.base import check_ttl
from orm_core.caching.policy import Mode, cache_of, read_mode, unit_schema
from orm_core.caching.reads import CachedRead, read_through
from orm_core.caching.tables import read_keys
from orm_core.pagination import Page
from orm_repositories._cache_entities import (
    LoadTree,
    NotCacheableError,
    decode_entity,
    encode_entity,
    load_plan,
)
from orm_repositories._cache_keys import ReadKey
from orm_repositories._keys import pk_value, pk_values
from orm_repositories._loading import Load
from orm_repositories._reads import check_page
from orm_repositories._select import scope_criteria
from orm_repositories.repository import AsyncRepository, Names

_CLASSES: dict[type[Any], type[Any]] = {}
_OWNERS: dict[tuple[type[Any], str], str] = {}


@dataclass(frozen=True, slots=True)
class ResultCodec:
    """How one read's result becomes entry data (`held`: keys the session had) and back."""

    encode: Callable[[Any, set[Any]], Any]
    decode: Callable[[AsyncSession, Any], Any]


_VALUE = ResultCodec(
    lambda result, _held: codec.encode(result), lambda _s, data: codec.decode(data)
)


def cached_repository(repository: AsyncRepository[Any], ttl: Any) -> Any:
    """A repository of the same class and scope whose reads go through the cache."""
    limit = check_ttl(ttl)
    cls = type(repository)
    made = cls if issubclass(cls, CachedRepository) else _CLASSES.get(cls)
    if made is None:
        made = _CLASSES[cls] = type(
            cls.__name__, (CachedRepository, cls), {"__module__": cls.__module__}
        )
    clone = made(repository.session)
    clone.__dict__.update({k: v for k, v in repository.__dict__.items() if k != "_target"})
    clone._cache_ttl = limit
    return clone


class CachedRepository(AsyncRepository[Any]):
    """The read methods of `AsyncRepository`, through the database's cache."""

    _cache_ttl: float | None = 60.0

    async def get(self, id: Any, *, load: Load = None) -> Any:
        compute = partial(super().get, id, load=load)
        ident = pk_value(self.info, id)
        if load is None and not scope_criteria(self.target) and self._held(ident):
            return await compute()  # the identity map answers without SQL anyway
        return await self._through("get", compute, lambda key: _one(key, self.model, load), ident)

    async def get_many(
        self, ids: Iterable[Any], *, preserve_order: bool = False, load: Load = None
    ) -> builtins.list[Any]:
        given = _listed(ids)
        compute = partial(super().get_many, given, preserve_order=preserve_order, load=load)
        keys = pk_values(self.info, given)
        build = partial(_many, model=self.model, load=load)
        found = await self._through("get_many", compute, build, keys, preserve_order)
        return cast("builtins.list[Any]", found)

    async def exists(self, *where: Any, **lookups: Any) -> bool:
        compute = partial(super().exists, *where, **lookups)
        return bool(await self._through("exists", compute, _value, where=(where, lookups)))

    async def exists_many(self, ids: Iterable[Any]) -> dict[Any, bool]:
        given = _listed(ids)
        compute = partial(super().exists_many, given)
        keys = pk_values(self.info, given)  # checks the ids first, as the read does
        names = [tuple(i) if isinstance(i, list) else i for i in given]
        flags = ResultCodec(
            lambda result, _held: [bool(result[name]) for name in names],
            lambda _s, data: dict(zip(names, (bool(flag) for flag in data), strict=True)),
        )
        found = await self._through("exists_many", compute, lambda _key: flags, keys)
        return dict(found)

    async def count(self, *where: Any, **lookups: Any) -> int:
        compute = partial(super().count, *where, **lookups)
        return int(await self._through("count", compute, _value, where=(where, lookups)))

    async def list(
        self, *where: Any, order_by: Any = None, limit: int | None = None,
        offset: int | None = None, load: Load = None, **lookups: Any,
    ) -> builtins.list[Any]:  # fmt: skip
        compute = partial(super().list, *where, order_by=order_by, limit=limit, offset=offset,
                          load=load, **lookups)  # fmt: skip
        build = partial(_many, model=self.model, load=load)
        found = await self._through("list", compute, build, limit, offset,
                                    where=(where, lookups), order_by=order_by)  # fmt: skip
        return cast("builtins.list[Any]", found)

    async def first(
        self, *where: Any, order_by: Any = None, load: Load = None, **lookups: Any
    ) -> Any:
        compute = partial(super().first, *where, order_by=order_by, load=load, **lookups)
        build = partial(_one, model=self.model, load=load)
        return await self._through("first", compute, build, where=(where, lookups),
                                   order_by=order_by)  # fmt: skip

    async def list_and_count(
        self, *where: Any, offset: int = 0, limit: int | None = None, order_by: Any = None,
        load: Load = None, **lookups: Any,
    ) -> tuple[builtins.list[Any], int]:  # fmt: skip
        compute = partial(super().list_and_count, *where, offset=offset, limit=limit,
                          order_by=order_by, load=load, **lookups)  # fmt: skip
        build = partial(_pair, model=self.model, load=load)
        found = await self._through("list_and_count", compute, build, offset, limit,
                                    where=(where, lookups), order_by=order_by)  # fmt: skip
        return found[0], found[1]

    async def paginate(
        self, *where: Any, page: int = 1, page_size: int = 20, order_by: Any = None,
        count: Any = "exact", load: Load = None, **lookups: Any,
    ) -> Page[Any]:  # fmt: skip
        compute = partial(super().paginate, *where, page=page, page_size=page_size,
                          order_by=order_by, count=count, load=load, **lookups)  # fmt: skip
        check_page(page, page_size, self.max_page_size)
        build = partial(_page, model=self.model, load=load)
        found = await self._through("paginate", compute, build, page, page_size, count,
                                    where=(where, lookups), order_by=order_by)  # fmt: skip
        return cast("Page[Any]", found)

    async def aggregate(
        self, *where: Any, group_by: Names = (), count: bool | Names | None = None,
        sum: Names | None = None, avg: Names | None = None, min: Names | None = None,
        max: Names | None = None, having: Mapping[str, Any] | None = None, **lookups: Any,
    ) -> builtins.list[dict[str, Any]]:  # fmt: skip
        compute = partial(super().aggregate, *where, group_by=group_by, count=count, sum=sum,
                          avg=avg, min=min, max=max, having=having, **lookups)  # fmt: skip
        found = await self._through("aggregate", compute, _value, group_by, count, sum, avg,
                                    min, max, having, where=(where, lookups))  # fmt: skip
        return cast("builtins.list[dict[str, Any]]", found)

    # -- the one path every read above takes ------------------------------------------------

    async def _through(
        self,
        method: str,
        compute: Callable[[], Awaitable[Any]],
        build: Callable[[ReadKey], ResultCodec],
        *values: Any,
        where: tuple[Any, Mapping[str, Any]] | None = None,
        order_by: Any = None,
    ) -> Any:
        session = self.session
        cache = cache_of(session)
        if cache is None:
            return await compute()
        schema = unit_schema(session)
        try:
            key = ReadKey(self.target, _owner(type(self), method), method, schema)
            key.add(*values)
            if where is not None:
                key.where(where[0])
                key.lookups(where[1])
            key.order_by(order_by)
            result_codec = build(key)
        except NotCacheableError:
            return await compute()
        tables = read_keys(key.tables, schema, self.target.backend.dialect)
        if tables is None:
            return await compute()
        mode = read_mode(session, tables)
        held: set[Any] = set()

        async def run() -> Any:
            if mode is Mode.FILL:
                held.update(session.sync_session.identity_map.keys())
            return await compute()

        read = CachedRead(cache, tables, codec.dumps(key.parts), self._cache_ttl, mode)
        return await read_through(
            read,
            run,
            lambda result: result_codec.encode(result, held),
            lambda data: result_codec.decode(session, data),
        )

    def _held(self, ident: Any) -> bool:
        mapper = inspect(self.model)
        values = ident if isinstance(ident, tuple) else (ident,)
        try:
            identity = mapper.identity_key_from_primary_key(values)
        except Exception:
            return False
        return identity in self.session.identity_map


def _owner(cls: type[Any], method: str) -> str:
    """The class whose `method` the cached read runs (a subclass may override it)."""
    found = _OWNERS.get((cls, method))
    if found is None:
        mro = cls.__mro__
        start = mro.index(CachedRepository) + 1
        owner = next(c for c in mro[start:] if method in c.__dict__)
        found = _OWNERS[(cls, method)] = f"{owner.__module__}.{owner.__qualname__}"
    return found


def _listed(ids: Any) -> Any:
    if isinstance(ids, Iterable) and not isinstance(ids, str | bytes | Mapping):
        return builtins.list(ids)
    return ids  # the read itself reports it


def _value(_key: ReadKey) -> ResultCodec:
    return _VALUE


def _entities(key: ReadKey, model: type, load: Load) -> LoadTree:
    tree, tables, layout = load_plan(model, load)
    key.tables.update(tables)
    key.parts.append(layout)
    return tree


def _one(key: ReadKey, model: type, load: Load) -> ResultCodec:
    tree = _entities(key, model, load)
    return ResultCodec(
        lambda entity, held: encode_entity(entity, tree, held),
        lambda session, data: decode_entity(session, model, data, tree),
    )


def _many(key: ReadKey, model: type, load: Load) -> ResultCodec:
    tree = _entities(key, model, load)
    return ResultCodec(
        lambda items, held: [encode_entity(e, tree, held) for e in items],
        lambda session, data: [decode_entity(session, model, d, tree) for d in data],
    )


def _pair(key: ReadKey, model: type, load: Load) -> ResultCodec:
    many = _many(key, model, load)
    return ResultCodec(
        lambda pair, held: [many.encode(pair[0], held), pair[1]],
        lambda session, data: (many.decode(session, data[0]), int(data[1])),
    )


def _page(key: ReadKey, model: type, load: Load) -> ResultCodec:
    many = _many(key, model, load)
    fields = ("total", "page", "page_size", "total_pages", "has_next", "has_prev")

    def encode(page: Page[Any], held: set[Any]) -> Any:
        return [many.encode(page.items, held), [getattr(page, name) for name in fields]]

    def decode(session: AsyncSession, data: Any) -> Page[Any]:
        items = many.decode(session, data[0])
        return Page(items, **dict(zip(fields, data[1], strict=True)))

    return ResultCodec(encode, decode)
