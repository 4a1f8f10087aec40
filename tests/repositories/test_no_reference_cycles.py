"""A unit of work leaves no reference cycles behind: everything it made is freed by
reference counting, so busy services do not pay for garbage-collector pauses (which
stall every task of the event loop, row locks held included)."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from orm_core import NotFoundError
from tests.models import BlogUser
from tests.support import ShopUoW, product_row


async def _calls(database) -> list[Callable[[], Awaitable[object]]]:
    async with ShopUoW(database) as uow:
        product = await uow.products.create(**product_row(1))
    numbers = iter(range(2, 10_000))

    async def create() -> object:
        async with ShopUoW(database) as uow:
            return await uow.products.create(**product_row(next(numbers)))

    async def read() -> object:
        async with ShopUoW(database, read_only=True) as uow:
            await uow.products.get(product.id)
            await uow.products.list(stock__gte=0, limit=5)
            return await uow.products.paginate(page=1, page_size=2)

    async def write() -> object:
        async with ShopUoW(database) as uow:
            await uow.products.update(product.id, stock=3)
            await uow.products.increment(product.id, "stock")
            return await uow.products.update_if(product.id, {"stock__gte": 0}, stock=1)

    async def fail() -> object:
        with pytest.raises(NotFoundError):
            async with ShopUoW(database) as uow:
                await uow.products.get_one(10**6)
        return None

    return [create, read, write, fail]


_OURS = ("orm_core", "orm_repositories", "sqlalchemy", "tests")


async def _garbage_of(call: Callable[[], Awaitable[object]]) -> Counter[str]:
    """The framework's and SQLAlchemy's objects the collector would have to free after
    three calls, by type (a socket an earlier test left to close is not counted)."""
    await call()  # caches and pools warm up first
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(3):
            await call()
        gc.collect()
        return Counter(
            type(o).__qualname__ for o in gc.garbage if type(o).__module__.startswith(_OURS)
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


async def test_units_of_work_leave_no_garbage_for_the_collector(database):
    for call in await _calls(database):
        garbage = await _garbage_of(call)
        assert not garbage, (call.__name__, garbage.most_common(10))


async def test_loading_relationships_leaves_no_more_garbage_than_selectinload(database):
    """SQLAlchemy's selectin loader leaves a few cyclic objects per load itself."""
    async with ShopUoW(database) as uow:
        author = await uow.users.create(username="ann")
        await uow.articles.create(author_id=author.id, slug="a", title="A")

    async def ours() -> object:
        async with ShopUoW(database) as uow:
            return await uow.users.list(load=["articles", "badges"])

    async def hand_written() -> object:
        async with database.session_factory() as session:
            statement = select(BlogUser).options(
                selectinload(BlogUser.articles), selectinload(BlogUser.badges)
            )
            return (await session.execute(statement)).scalars().all()

    assert await _garbage_of(ours) <= await _garbage_of(hand_written)
