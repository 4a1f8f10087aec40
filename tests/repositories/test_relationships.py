"""Relationships: `load=`, no silent lazy loads, lookups and ordering across them, deletes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from orm_core import InvalidQueryError, RelationshipNotLoadedError
from tests.models import BlogArticle, BlogBadge, blog_article_tags
from tests.support import ShopUoW, recorded


async def seed_blog(database) -> dict[str, int]:
    """Three users, four articles with tags, comments and favorites; returns ids by name."""
    async with ShopUoW(database) as uow:
        jake, anna, bob = [
            await uow.users.create(username=name) for name in ("jake", "anna", "bob")
        ]
        python, sql, web = [await uow.tags.create(name=n) for n in ("python", "sql", "web")]
        a1 = await uow.articles.create(slug="a1", title="One", author=jake, tags=[python, sql])
        a2 = await uow.articles.create(slug="a2", title="Two", author=jake, tags=[web])
        a3 = await uow.articles.create(slug="a3", title="Three", author=anna, tags=[python])
        a4 = await uow.articles.create(slug="a4", title="Four", author=bob)
        await uow.comments.create(body="great", article=a1, author=anna)
        await uow.comments.create(body="meh", article=a1, author=bob)
        await uow.comments.create(body="great too", article=a3, author=jake)
        await uow.articles.link(a1, "favorited_by", [anna, bob])
        await uow.articles.link(a3, "favorited_by", [jake])
        await uow.users.link(jake, "following", [anna])
        uow.session.add(BlogBadge(user_id=jake.id, label="first post"))
        return {
            "jake": jake.id, "anna": anna.id, "bob": bob.id,
            "a1": a1.id, "a2": a2.id, "a3": a3.id, "a4": a4.id,
        }  # fmt: skip


def slugs(articles) -> list[str]:
    return sorted(a.slug for a in articles)


# -- load= -------------------------------------------------------------------------------


READS = {
    "get": lambda repo, ids, load: _one(repo.get(ids["a1"], load=load)),
    "get_one": lambda repo, ids, load: _one(repo.get_one(ids["a1"], load=load)),
    "get_many": lambda repo, ids, load: repo.get_many([ids["a1"], ids["a3"]], load=load),
    "first": lambda repo, ids, load: _one(repo.first(slug="a1", load=load)),
    "list": lambda repo, ids, load: repo.list(load=load),
    "list_and_count": lambda repo, ids, load: _items(repo.list_and_count(load=load)),
    "paginate": lambda repo, ids, load: _page(repo.paginate(load=load)),
    "paginate_cursor": lambda repo, ids, load: _page(repo.paginate_cursor(load=load)),
    "stream": lambda repo, ids, load: _streamed(repo.stream(load=load)),
    "sample": lambda repo, ids, load: repo.sample(2, load=load),
    "random": lambda repo, ids, load: _one(repo.random(load=load)),
    "select_for_update": lambda repo, ids, load: _one(
        repo.select_for_update(ids["a1"], load=load)
    ),
    "lock_many": lambda repo, ids, load: repo.lock_many([ids["a1"], ids["a2"]], load=load),
}


async def _one(awaitable):
    return [await awaitable]


async def _items(awaitable):
    return (await awaitable)[0]


async def _page(awaitable):
    return (await awaitable).items


async def _streamed(iterator):
    return [entity async for entity in iterator]


@pytest.mark.parametrize("read", sorted(READS))
async def test_every_read_loads_what_load_names_and_it_stays_readable_after_the_unit(
    database, read
):
    ids = await seed_blog(database)
    locking = read in ("select_for_update", "lock_many")
    async with ShopUoW(database, read_only=not locking) as uow:
        found = await READS[read](uow.articles, ids, ["author", "tags", "comments.author"])
    assert found
    for article in found:  # the unit of work has ended: nothing may need the database
        assert article.author.username in {"jake", "anna", "bob"}
        assert all(isinstance(tag.name, str) for tag in article.tags)
        assert all(comment.author.username for comment in article.comments)


async def test_a_dotted_path_and_loader_options_are_both_accepted(database):
    ids = await seed_blog(database)
    async with ShopUoW(database) as uow:
        article = await uow.articles.get(
            ids["a1"], load=[selectinload(BlogArticle.tags), "comments.author"]
        )
    assert {t.name for t in article.tags} == {"python", "sql"}
    assert {c.author.username for c in article.comments} == {"anna", "bob"}


async def test_loading_costs_the_same_statements_for_one_and_for_five_hundred_parents(database):
    async with ShopUoW(database) as uow:
        user = await uow.users.create(username="writer")
        tag = await uow.tags.create(name="t")
        await uow.articles.bulk_create(
            {"slug": f"s{n}", "title": "t", "author_id": user.id} for n in range(500)
        )
        article_ids = [a.id for a in await uow.articles.list()]
        await uow.session.execute(
            blog_article_tags.insert(), [{"article_id": i, "tag_id": tag.id} for i in article_ids]
        )
    counts = []
    for limit in (1, 500):
        async with ShopUoW(database, read_only=True) as uow:
            with recorded(database) as log:
                found = await uow.articles.list(limit=limit, load=["author", "tags", "comments"])
            assert len(found) == limit
            assert all(a.author.username == "writer" and len(a.tags) == 1 for a in found)
            counts.append(len(log.queries))
    # articles joined with their authors; tags; comments; the authors' badges (lazy="selectin")
    assert counts[0] == counts[1] == 4


async def test_locking_reads_never_join_a_related_table(database):
    ids = await seed_blog(database)
    async with ShopUoW(database) as uow:
        with recorded(database) as log:
            article = await uow.articles.select_for_update(ids["a1"], load="author")
        assert article.author.username == "jake"
        locking = [s for s in log.queries if "FOR" in s.upper() and "UPDATE" in s.upper()]
        assert all("JOIN" not in s.upper() for s in locking)


@pytest.mark.parametrize("load", ["nope", "author.nope", "title", ["tags", 3], 7, ""])
async def test_a_bad_load_is_an_invalid_query_before_any_sql(database, load):
    ids = await seed_blog(database)
    async with ShopUoW(database) as uow:
        with recorded(database) as log:
            with pytest.raises(InvalidQueryError):
                await uow.articles.get(ids["a1"], load=load)
            with pytest.raises(InvalidQueryError):
                await uow.articles.list(load=load)
        assert log.queries == []


async def test_loaded_collections_leave_out_soft_deleted_rows(database):
    ids = await seed_blog(database)
    async with ShopUoW(database) as uow:
        meh = await uow.comments.first(body="meh")
        await uow.comments.soft_delete(meh.id)
    async with ShopUoW(database) as uow:
        article = await uow.articles.get(ids["a1"], load="comments")
    assert [c.body for c in article.comments] == ["great"]


# -- no silent lazy loads ----------------------------------------------------------------


async def test_touching_an_unloaded_relationship_raises_inside_and_after_the_unit(database):
    ids = await seed_blog(database)
    async with ShopUoW(database) as uow:
        article = await uow.articles.get(ids["a1"])
        with pytest.raises(RelationshipNotLoadedError) as inside:
            _ = article.tags
        comment = await uow.comments.first(body="great")
    with pytest.raises(RelationshipNotLoadedError) as after:
        _ = article.comments
    with pytest.raises(RelationshipNotLoadedError):
        _ = comment.author  # a to-one relationship too, whatever the identity map holds
    assert "BlogArticle.tags" in inside.value.message and "load=" in inside.value.message
    assert inside.value.details == {"model": "BlogArticle", "relationship": "tags"}
    assert "comments" in after.value.message
    assert not isinstance(after.value, AttributeError)


async def test_a_relationship_declared_with_its_own_loading_keeps_it(database):
    ids = await seed_blog(database)
    async with ShopUoW(database) as uow:
        jake = await uow.users.get(ids["jake"])
    assert [b.label for b in jake.badges] == ["first post"]  # lazy="selectin" on the model


async def test_collections_can_be_assigned_on_create_and_update_whether_loaded_or_not(database):
    ids = await seed_blog(database)
    async with ShopUoW(database) as uow:
        web = await uow.tags.first(name="web")
        sql = await uow.tags.first(name="sql")
        updated = await uow.articles.update(ids["a1"], tags=[web], title="Renamed")
        assert {t.name for t in updated.tags} == {"web"}
        article = await uow.articles.get(ids["a2"])
        await uow.articles.update_fields(article, tags=[web, sql])
    async with ShopUoW(database) as uow:
        first = await uow.articles.get(ids["a1"], load="tags")
        second = await uow.articles.get(ids["a2"], load="tags")
    assert first.title == "Renamed" and [t.name for t in first.tags] == ["web"]
    assert {t.name for t in second.tags} == {"web", "sql"}


# -- deletes leave foreign-key actions to the database ---------------------------------------


@pytest.mark.parametrize("how", ["delete", "bulk_delete", "delete_where"])
async def test_deleting_a_parent_lets_the_database_cascade_to_its_children(database, how):
    ids = await seed_blog(database)
    async with ShopUoW(database) as uow:
        held = await uow.articles.get(ids["a1"], load="comments")  # held children too
        assert len(held.comments) == 2
        repo = uow.articles
        deleted = {
            "delete": lambda: repo.delete(ids["a1"]),
            "bulk_delete": lambda: repo.bulk_delete([ids["a1"]]),
            "delete_where": lambda: repo.delete_where(slug="a1"),
        }
        assert await deleted[how]() in (True, 1)
    async with ShopUoW(database) as uow:
        assert await uow.comments.with_deleted().count(article_id=ids["a1"]) == 0
        assert await uow.articles.get(ids["a1"]) is None
        links = await uow.session.scalar(
            select(func.count()).select_from(blog_article_tags).where(
                blog_article_tags.c.article_id == ids["a1"]
            )
        )
        assert links == 0


# -- lookups across relationships -------------------------------------------------------------


@pytest.mark.parametrize(
    ("lookups", "expected"),
    [
        ({"author__username": "jake"}, ["a1", "a2"]),
        ({"author__username": {"icontains": "AN"}}, ["a3"]),
        ({"tags__name": "python"}, ["a1", "a3"]),
        ({"tags__name__in": ["python", "sql"]}, ["a1", "a3"]),
        ({"tags__name__ne": "python"}, ["a2", "a4"]),
        ({"tags__name__not_in": ["python", "web"]}, ["a4"]),
        ({"tags__isnull": True}, ["a4"]),
        ({"tags__isnull": False}, ["a1", "a2", "a3"]),
        ({"comments__author__username__icontains": "AN"}, ["a1"]),
        ({"comments__body__startswith": "great"}, ["a1", "a3"]),
        ({"favorited_by__username": "bob"}, ["a1"]),
        ({"author__following__username": "anna"}, ["a1", "a2"]),
        ({"author__username__iexact": "JAKE", "tags__name": "web"}, ["a2"]),
        ({"comments__isnull": True, "author__username__ne": "bob"}, ["a2"]),
    ],
)
async def test_lookups_walk_relationships_and_never_repeat_a_row(database, lookups, expected):
    await seed_blog(database)
    async with ShopUoW(database) as uow:
        repo = uow.articles
        assert slugs(await repo.list(**lookups)) == expected
        assert await repo.count(**lookups) == len(expected)
        assert await repo.exists(**lookups) is bool(expected)
        page = await repo.paginate(**lookups, page_size=10)
        assert page.total == len(expected) and slugs(page.items) == expected
        items, total = await repo.list_and_count(**lookups)
        assert total == len(expected) and slugs(items) == expected


async def test_lookups_through_one_collection_must_hold_for_the_same_related_row(database):
    await seed_blog(database)
    async with ShopUoW(database) as uow:
        # a1 has a comment "great" by anna and a comment "meh" by bob: no single comment
        # is both "meh" and by anna
        mixed = await uow.articles.list(comments__body="meh", comments__author__username="anna")
        assert mixed == []
        found = await uow.articles.list(comments__body="meh", comments__author__username="bob")
        assert slugs(found) == ["a1"]


async def test_related_rows_that_are_soft_deleted_do_not_match(database):
    await seed_blog(database)
    async with ShopUoW(database) as uow:
        meh = await uow.comments.first(body="meh")
        await uow.comments.soft_delete(meh.id)
        assert await uow.articles.list(comments__body="meh") == []


async def test_writes_and_aggregates_take_relationship_lookups(database):
    ids = await seed_blog(database)
    async with ShopUoW(database) as uow:
        assert await uow.articles.update_where({"title": "tagged"}, tags__name="python") == 2
        assert await uow.articles.aggregate(count=True, author__username="jake") == [{"count": 2}]
        assert await uow.articles.delete_where(tags__isnull=True) == 1
        assert slugs(await uow.articles.list(title="tagged")) == ["a1", "a3"]
        assert await uow.articles.get(ids["a4"]) is None


@pytest.mark.parametrize(
    "lookups",
    [
        {"author__nope": "x"},
        {"nope__username": "x"},
        {"author": "jake"},
        {"author__eq": 1},
        {"tags__name__regex": "x"},
        {"tags__isnull": "yes"},
        {"comments__author__username__gt": 3},
    ],
)
async def test_bad_relationship_lookups_fail_before_any_sql(database, lookups):
    async with ShopUoW(database) as uow:
        with recorded(database) as log:
            with pytest.raises(InvalidQueryError):
                await uow.articles.list(**lookups)
            with pytest.raises(InvalidQueryError):
                await uow.articles.delete_where(**lookups)
        assert log.queries == []


# -- ordering across to-one relationships ------------------------------------------------------


async def test_order_by_follows_to_one_relationships(database):
    await seed_blog(database)
    async with ShopUoW(database) as uow:
        ordered = await uow.articles.list(order_by=["author__username", "-slug"])
        assert [a.slug for a in ordered] == ["a3", "a4", "a2", "a1"]
        page = await uow.articles.paginate(order_by="-author__username", page_size=2)
        assert [a.slug for a in page.items] == ["a1", "a2"]
        first = await uow.articles.first(order_by="author__username", load="author")
        assert first.author.username == "anna"


@pytest.mark.parametrize("order_by", ["tags__name", "author__nope", "comments__author__username"])
async def test_order_by_through_a_collection_or_an_unknown_name_is_refused(database, order_by):
    async with ShopUoW(database) as uow:
        with recorded(database) as log, pytest.raises(InvalidQueryError):
            await uow.articles.list(order_by=order_by)
        assert log.queries == []
