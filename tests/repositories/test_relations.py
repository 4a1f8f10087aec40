"""`count_related`, `link`/`unlink`, `list_and_count` and upserts that leave rows alone."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import joinedload

from orm_core import ConstraintError, InvalidQueryError, LockNotAvailableError, NotFoundError
from tests.models import BlogArticle, blog_favorites
from tests.repositories.test_relationships import seed_blog
from tests.support import ShopUoW, product_row, recorded


async def favorites_of(database, article_id: int) -> int:
    async with ShopUoW(database, read_only=True) as uow:
        statement = select(func.count()).select_from(blog_favorites).where(
            blog_favorites.c.article_id == article_id
        )
        return int(await uow.session.scalar(statement))


# -- count_related -------------------------------------------------------------------------


async def test_count_related_counts_every_parent_in_one_statement(database):
    ids = await seed_blog(database)
    articles = [ids[k] for k in ("a1", "a2", "a3", "a4")]
    async with ShopUoW(database) as uow:
        with recorded(database) as log:
            favorites = await uow.articles.count_related(articles, "favorited_by")
        assert len(log.queries) == 1
        assert favorites == {ids["a1"]: 2, ids["a2"]: 0, ids["a3"]: 1, ids["a4"]: 0}
        assert await uow.articles.count_related(articles, "comments") == {
            ids["a1"]: 2, ids["a2"]: 0, ids["a3"]: 1, ids["a4"]: 0,
        }  # fmt: skip


async def test_count_related_filters_the_related_rows(database):
    ids = await seed_blog(database)
    async with ShopUoW(database) as uow:
        articles = await uow.articles.list(order_by="slug")
        mine = await uow.articles.count_related(articles, "favorited_by", id=ids["bob"])
        assert mine == {ids["a1"]: 1, ids["a2"]: 0, ids["a3"]: 0, ids["a4"]: 0}
        by_name = await uow.articles.count_related(
            [ids["a1"]], "comments", author__username__in=["anna"]
        )
        assert by_name == {ids["a1"]: 1}
        following = await uow.users.count_related(
            [ids["jake"], ids["anna"]], "followers", id=ids["jake"]
        )
        assert following == {ids["jake"]: 0, ids["anna"]: 1}


async def test_count_related_leaves_out_soft_deleted_rows_and_unknown_ids(database):
    ids = await seed_blog(database)
    async with ShopUoW(database) as uow:
        meh = await uow.comments.first(body="meh")
        await uow.comments.soft_delete(meh.id)
        counted = await uow.articles.count_related([ids["a1"], 10**6, 2**40], "comments")
        assert counted == {ids["a1"]: 1, 10**6: 0, 2**40: 0}


@pytest.mark.parametrize("relationship", ["author", "nope", 3])
async def test_count_related_takes_a_collection(database, relationship):
    ids = await seed_blog(database)
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError):
            await uow.articles.count_related([ids["a1"]], relationship)


# -- link / unlink --------------------------------------------------------------------------


async def test_link_is_idempotent_and_counts_only_new_pairs(database):
    ids = await seed_blog(database)
    async with ShopUoW(database) as uow:
        assert await uow.articles.link(ids["a2"], "favorited_by", [ids["anna"], ids["bob"]]) == 2
        assert await uow.articles.link(ids["a2"], "favorited_by", ids["anna"]) == 0
        anna = await uow.users.get(ids["anna"])
        assert await uow.articles.link(ids["a2"], "favorited_by", [anna, ids["jake"]]) == 1
    assert await favorites_of(database, ids["a2"]) == 3
    async with ShopUoW(database) as uow:
        assert await uow.articles.unlink(ids["a2"], "favorited_by", [ids["anna"], 10**6]) == 1
        assert await uow.articles.unlink(ids["a2"], "favorited_by", [ids["anna"]]) == 0
    assert await favorites_of(database, ids["a2"]) == 2


async def test_link_refreshes_a_loaded_collection_and_records_the_table(database):
    ids = await seed_blog(database)
    async with ShopUoW(database) as uow:
        article = await uow.articles.get(ids["a4"], load="favorited_by")
        assert article.favorited_by == []
        await uow.articles.link(article, "favorited_by", [ids["jake"]])
        assert [u.username for u in article.favorited_by] == ["jake"]
        assert "blog_favorites" in uow.written_tables
        await uow.articles.unlink(article, "favorited_by", [ids["jake"]])
        assert article.favorited_by == []


async def test_linking_a_missing_target_writes_nothing_and_the_unit_goes_on(database):
    ids = await seed_blog(database)
    async with ShopUoW(database) as uow:
        with pytest.raises(ConstraintError):
            await uow.articles.link(ids["a4"], "favorited_by", [ids["jake"], 10**6])
        with pytest.raises(NotFoundError):
            await uow.articles.link(ids["a4"], "favorited_by", [2**40])
        assert await uow.articles.link(ids["a4"], "favorited_by", [ids["anna"]]) == 1
    assert await favorites_of(database, ids["a4"]) == 1


@pytest.mark.parametrize(("relationship", "targets"), [("author", 1), ("comments", 1), ("x", 1)])
async def test_link_takes_a_many_to_many_relationship(database, relationship, targets):
    ids = await seed_blog(database)
    async with ShopUoW(database) as uow:
        with recorded(database) as log, pytest.raises(InvalidQueryError):
            await uow.articles.link(ids["a1"], relationship, targets)
        assert log.queries == []


async def test_twenty_concurrent_links_of_one_pair_leave_one_row(database):
    ids = await seed_blog(database)

    async def favorite() -> int:
        async with ShopUoW(database) as uow:
            return await uow.articles.link(ids["a4"], "favorited_by", [ids["bob"]])

    added = await asyncio.gather(*(favorite() for _ in range(20)))
    assert sorted(added) == [0] * 19 + [1]
    assert await favorites_of(database, ids["a4"]) == 1


# -- list_and_count -------------------------------------------------------------------------


async def test_list_and_count_slices_and_counts_every_match(database):
    await seed_blog(database)
    async with ShopUoW(database) as uow:
        items, total = await uow.articles.list_and_count(
            order_by="slug", offset=1, limit=2, load="author"
        )
        assert ([a.slug for a in items], total) == (["a2", "a3"], 4)
        assert items[0].author.username == "jake"
        beyond, total = await uow.articles.list_and_count(offset=10, limit=2)
        assert (beyond, total) == ([], 4)
        with pytest.raises(InvalidQueryError):
            await uow.articles.list_and_count(offset=-1)


# -- upserts that leave the existing row alone ----------------------------------------------


async def test_upsert_with_no_update_fields_inserts_or_returns_the_row_untouched(database):
    async with ShopUoW(database) as uow:
        first = await uow.tags.upsert(conflict_fields="name", update_fields=[], name="rust")
        again = await uow.tags.upsert(conflict_fields="name", update_fields=[], name="rust")
        assert first.id == again.id
        assert await uow.tags.upsert_many(
            [{"name": "rust"}, {"name": "go"}, {"name": "go"}], conflict_fields="name",
            update_fields=[],
        ) == 1  # fmt: skip
        assert await uow.tags.upsert_many([{"name": "zig"}], conflict_fields="name") == 1
        assert await uow.tags.count() == 3


async def test_upsert_with_no_update_fields_leaves_updated_at_alone(database):
    async with ShopUoW(database) as uow:
        user = await uow.users.create(username="u")
        article = await uow.articles.create(slug="s", title="old", author_id=user.id)
    async with ShopUoW(database) as uow:
        kept = await uow.articles.upsert(
            conflict_fields="slug", update_fields=[], slug="s", title="new", author_id=user.id
        )
        assert (kept.title, kept.updated_at) == ("old", article.updated_at)


@pytest.mark.postgres
async def test_an_upsert_that_leaves_the_row_alone_does_not_lock_it(database):
    async with ShopUoW(database) as uow:
        await uow.tags.create(name="kept")
    async with ShopUoW(database) as holder:
        await holder.tags.upsert(conflict_fields="name", update_fields=[], name="kept")
        async with ShopUoW(database) as other:
            locked = await other.tags.lock_many(
                [t.id for t in await other.tags.list(name="kept")], nowait=True
            )
            assert [t.name for t in locked] == ["kept"]


@pytest.mark.postgres
async def test_an_upsert_that_updates_does_lock_the_row(database):
    async with ShopUoW(database) as uow:
        product = await uow.products.create(**product_row(1))
    async with ShopUoW(database) as holder:
        await holder.products.upsert(conflict_fields="sku", **product_row(1, name="changed"))
        async with ShopUoW(database) as other:
            with pytest.raises(LockNotAvailableError):
                await other.products.select_for_update(product.id, nowait=True)
            await other.rollback()




# -- statement economy ------------------------------------------------------------------------


async def test_list_and_count_and_paginate_take_one_statement_while_rows_come_back(database):
    await seed_blog(database)
    async with ShopUoW(database) as uow:
        with recorded(database) as log:
            items, total = await uow.articles.list_and_count(limit=2, order_by="slug")
            page = await uow.articles.paginate(page=2, page_size=3, order_by="slug")
        assert (len(items), total, page.total, [a.slug for a in page.items]) == (2, 4, 4, ["a4"])
        assert len(log.queries) == 2
        with recorded(database) as log:
            assert await uow.articles.list_and_count(offset=10) == ([], 4)
            beyond = await uow.articles.paginate(page=9, page_size=3)
        assert (beyond.items, beyond.total) == ([], 4)
        assert len(log.queries) == 4  # an empty slice needs its COUNT


async def test_a_joined_collection_given_as_a_loader_option_returns_each_parent_once(database):
    await seed_blog(database)
    async with ShopUoW(database) as uow:
        found = await uow.articles.list(load=[joinedload(BlogArticle.tags)], order_by="slug")
        assert [a.slug for a in found] == ["a1", "a2", "a3", "a4"]
        assert sorted(t.name for t in found[0].tags) == ["python", "sql"]
        first = await uow.articles.first(slug="a1", load=joinedload(BlogArticle.tags))
        assert len(first.tags) == 2


async def test_counting_related_rows_by_the_target_key_reads_the_association_table_only(
    database,
):
    ids = await seed_blog(database)
    async with ShopUoW(database) as uow:
        with recorded(database) as log:
            mine = await uow.articles.count_related(
                [ids["a1"], ids["a2"]], "favorited_by", id=ids["bob"]
            )
        assert mine == {ids["a1"]: 1, ids["a2"]: 0}
        assert "JOIN" not in log.queries[0].upper()


async def test_creating_a_row_with_columns_left_null_reads_nothing_back(database):
    async with ShopUoW(database) as uow:
        with recorded(database) as log:
            user = await uow.users.create(username="quiet")
        assert [s.split()[0].upper() for s in log.queries] == ["INSERT"]
        assert user.bio is None


async def test_refresh_rereads_a_held_entity_without_a_lock(database):
    ids = await seed_blog(database)
    async with ShopUoW(database) as uow:
        held = await uow.articles.get(ids["a1"], load="tags")
        gone = await uow.articles.get(ids["a3"])
        # changes the session does not see: SQL behind the repository's back
        await uow.session.execute(
            text("UPDATE blog_articles SET favorites_count = 5 WHERE id = :id"), {"id": ids["a1"]}
        )
        await uow.session.execute(
            text("DELETE FROM blog_articles WHERE id = :id"), {"id": ids["a3"]}
        )
        assert held.favorites_count == 0
        with recorded(database) as log:
            assert await uow.articles.refresh(held) is held
        assert held.favorites_count == 5 and len(held.tags) == 2
        assert all("FOR" not in s.upper().split() for s in log.queries)
        with pytest.raises(NotFoundError):
            await uow.articles.refresh(gone)
