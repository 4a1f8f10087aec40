"""Every read method is cached, and every write path invalidates it before commit returns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from orm_core import Database, UnitOfWork
from orm_repositories import AsyncRepository  # noqa: F401 - registers uow.repository(Model)
from tests.caching.reads import comment_spec, product_spec, snapshot
from tests.models import BlogArticle, BlogComment, BlogUser, Product


async def seed_products(db: Database) -> None:
    async with UnitOfWork(db) as uow:
        products = uow.repository(Product)
        for n, category in enumerate(["a", "b", "a", "b"], start=1):
            await products.create(
                sku=f"S{n}", name=f"P{n}", price=Decimal(n), stock=n, category=category
            )


async def create(uow: UnitOfWork) -> None:
    await uow.repository(Product).create(sku="S9", name="P9", price=Decimal(9), category="a")


async def bulk_create(uow: UnitOfWork) -> None:
    # on PostgreSQL this goes through COPY
    rows = [{"sku": f"B{n}", "name": "bulk", "price": Decimal(20 + n), "category": "a"}
            for n in range(3)]  # fmt: skip
    assert await uow.repository(Product).bulk_create(rows) == 3


async def update_where(uow: UnitOfWork) -> None:
    assert await uow.repository(Product).update_where({"stock": 50}, category="a") == 2


async def counter(uow: UnitOfWork) -> None:
    assert await uow.repository(Product).increment(1, "stock", 100) is not None


async def upsert(uow: UnitOfWork) -> None:
    await uow.repository(Product).upsert(
        conflict_fields=["sku"], sku="S1", name="P1", price=Decimal(99), category="b"
    )


async def delete(uow: UnitOfWork) -> None:
    assert await uow.repository(Product).delete(2)


async def flush(uow: UnitOfWork) -> None:
    product = await uow.repository(Product).get_one(1)
    product.price = Decimal(77)  # written by the ORM flush at commit


WRITES: dict[str, Callable[[UnitOfWork], Awaitable[None]]] = {
    "create": create,
    "bulk_create": bulk_create,
    "update_where": update_where,
    "counter": counter,
    "upsert": upsert,
    "delete": delete,
    "flush": flush,
}


async def check_invalidated_by(db: Database, spec: Any, write: Any) -> None:
    cache = db.cache
    assert cache is not None
    before = await snapshot(db, spec, cached=True)  # fills
    assert before == await snapshot(db, spec, cached=False)
    counts = cache.stats()
    assert await snapshot(db, spec, cached=True) == before
    after_hits = cache.stats()
    assert after_hits["hits"] - counts["hits"] == len(spec.calls)  # every method was served
    assert after_hits["misses"] == counts["misses"]

    async with UnitOfWork(db) as uow:
        await write(uow)
    assert cache.stats()["invalidations"] > after_hits["invalidations"]

    fresh = await snapshot(db, spec, cached=False)
    assert fresh != before  # the write changed what the reads answer
    assert await snapshot(db, spec, cached=True) == fresh
    again = cache.stats()
    # every method missed (get_one shares get's entry) and filled again
    assert again["misses"] - after_hits["misses"] == len(spec.calls) - 1
    assert await snapshot(db, spec, cached=True) == fresh


@pytest.mark.parametrize("path", sorted(WRITES))
async def test_every_read_method_is_invalidated_by_the_write_path(cached_db, path):
    await seed_products(cached_db)
    await check_invalidated_by(cached_db, product_spec(Product), WRITES[path])


async def test_a_database_side_cascade_invalidates_the_child_tables_reads(cached_db):
    async with UnitOfWork(cached_db) as uow:
        user = await uow.repository(BlogUser).create(username="ann")
        articles = uow.repository(BlogArticle)
        first = await articles.create(slug="one", title="One", author_id=user.id)
        second = await articles.create(slug="two", title="Two", author_id=user.id)
        comments = uow.repository(BlogComment)
        await comments.create(body="c1", article_id=first.id, author_id=user.id)
        await comments.create(body="c2", article_id=second.id, author_id=user.id)

    async def drop_article(uow: UnitOfWork) -> None:
        # ON DELETE CASCADE removes the comment in the database, unseen by the ORM
        assert await uow.repository(BlogArticle).delete(1)

    await check_invalidated_by(cached_db, comment_spec(BlogComment), drop_article)


async def test_a_commit_bumps_the_tables_it_reached_through_cascades_only(cached_db):
    async with UnitOfWork(cached_db) as uow:
        await uow.repository(BlogUser).create(username="bob")
    # blog_users is referenced with ON DELETE CASCADE by badges, favorites and follows;
    # blog_articles and blog_comments reference it without an action
    assert cached_db.cache.stats()["invalidations"] == 4
