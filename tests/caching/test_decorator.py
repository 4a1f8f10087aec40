"""`@cached(ttl=..., tables=[...])` on query functions, and the fill race it must survive."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from orm_core import Database, InvalidQueryError, UnitOfWork, cached
from orm_repositories import AsyncRepository  # noqa: F401 - registers uow.repository(Model)
from tests.models import Order, Product


@pytest.fixture
async def db(database: Database, cache_kind, make_cache):
    cached_db = Database(database.url, cache=make_cache(cache_kind))
    async with UnitOfWork(cached_db) as uow:
        await uow.repository(Product).create(sku="S1", name="one", price=Decimal("1.50"))
    yield cached_db
    await cached_db.dispose()


calls: list[Any] = []


@cached(ttl=30, tables=["products", Order])
async def totals(uow: UnitOfWork, category: str | None = None) -> dict[str, Any]:
    """A report joining what no repository method expresses."""
    calls.append(category)
    rows = await uow.repository(Product).aggregate(sum="price", count=True)
    return {"sum": rows[0]["sum"], "count": rows[0]["count"], "category": category}


async def report(db: Database, **kwargs: Any) -> dict[str, Any]:
    async with UnitOfWork(db, read_only=True) as uow:
        return await totals(uow, **kwargs)


async def test_the_result_is_cached_by_arguments_and_invalidated_by_its_tables(db):
    calls.clear()
    assert await report(db) == {"sum": Decimal("1.50"), "count": 1, "category": None}
    assert await report(db) == {"sum": Decimal("1.50"), "count": 1, "category": None}
    assert await report(db, category="x") == {"sum": Decimal("1.50"), "count": 1, "category": "x"}
    assert calls == [None, "x"]
    async with UnitOfWork(db) as uow:
        await uow.repository(Product).create(sku="S2", name="two", price=Decimal(2))
    assert (await report(db))["sum"] == Decimal("3.50")
    async with UnitOfWork(db) as uow:  # a table named as a model counts too
        await uow.repository(Order).create(product_id=1, quantity=3)
    await report(db)
    assert calls == [None, "x", None, None]
    assert db.cache.stats()["hits"] == 1


async def test_a_database_argument_works_and_unkeyable_arguments_are_not_cached(db):
    @cached(ttl=None, tables=["products"])
    async def names(database: Database, marker: object = None) -> list[str]:
        rows = await database.fetch_all("SELECT name FROM products ORDER BY id")
        return [row["name"] for row in rows]

    assert await names(db) == ["one"]
    assert await names(db) == ["one"]
    assert await names(db, marker=object()) == ["one"]  # not JSON-able: read through
    assert db.cache.stats()["hits"] == 1
    assert db.cache.stats()["misses"] == 1


def test_bad_declarations_are_refused():
    with pytest.raises(InvalidQueryError):
        cached(ttl=1, tables=[])
    with pytest.raises(InvalidQueryError):
        cached(ttl=1, tables="products")
    with pytest.raises(InvalidQueryError):
        cached(ttl=-1, tables=["products"])
    with pytest.raises(TypeError):
        cached(ttl=1, tables=["products"])(lambda: None)


async def test_a_fill_from_before_a_commit_is_never_read_after_it(db):
    """The race: a reader reads the old row, a writer commits, the reader fills late."""
    read_done = asyncio.Event()
    commit_done = asyncio.Event()

    @cached(ttl=None, tables=["products"])
    async def slow_name(uow: UnitOfWork, pause: bool) -> str:
        name = (await uow.repository(Product).get_one(1)).name  # the old row
        if pause:
            read_done.set()
            await commit_done.wait()  # the writer commits and bumps meanwhile
        return name

    async def reader() -> str:
        async with UnitOfWork(db, read_only=True) as uow:
            return await slow_name(uow, True)

    async def writer() -> None:
        await read_done.wait()
        async with UnitOfWork(db) as uow:
            await uow.repository(Product).update(1, name="new")
        commit_done.set()

    stale, _ = await asyncio.gather(reader(), writer())
    assert stale == "one"  # the reader started before the commit: allowed to be old
    assert db.cache.stats()["sets"] == 1  # and it filled, under the old versions
    async with UnitOfWork(db, read_only=True) as uow:
        assert await slow_name(uow, True) == "new"  # a read after the commit: fresh
    assert db.cache.stats()["hits"] == 0
