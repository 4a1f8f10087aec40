"""Full-text search on SQLite (FTS5, or LIKE without a declared vector) and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, true

from orm_core import Database, Highlight, InvalidQueryError, create_search_tables, search_vector
from orm_core.fields import model_info
from orm_core.search import drop_search_tables
from orm_core.websearch import parse_search
from tests.models import SearchArticle
from tests.support import ShopUoW, recorded

ARTICLES = [
    {"slug": slug, "title": title, "body": body, "category": category}
    for slug, title, body, category in [
        ("py-title", "Python packaging", "wheels and sdists", "news"),
        ("py-body", "Snakes", "a python eats a rat", "news"),
        ("fox", "Quick fox", "the quick brown fox jumps", "blog"),
        ("brown", "Brown quick", "a fox that is brown", "blog"),
        ("rust", "Rust ownership", "borrowing <b>rules</b> & more", "news"),
        ("empty", "Nothing here", None, None),
    ]
]
FIELDS = ["title", "body"]
HOSTILE = [
    '"', '""', "'", "*", "NEAR(", "NEAR(a b", "AND", "OR", "NOT", "a AND", "or or",
    '"unbalanced', 'a "b', "-", "--", "- -", "!", "&", "|", ":*", "a:*", "(", ")",
    "\\", "%", "_", "\x00", "a\x00b", "🙂", "🙂 python", "\ud800", "{title}: x",
    "title:python", "^python", "python*", "a" * 3000, " ".join(["python"] * 500),
    '"' + "a " * 499, " or ".join("abcdefghijklmnopqrstuvwxyz" * 2), "x " + "-a " * 40,
    "-python -fox", 'or -"quick fox"', "\u200b", "\t\n", "é",
]  # fmt: skip


async def _seed(database: Database, rows: list[dict[str, Any]] = ARTICLES) -> None:
    async with ShopUoW(database) as uow:
        await uow.search_articles.bulk_create(rows)


async def _slugs(database: Database, text: str, **options: Any) -> list[str]:
    async with ShopUoW(database, read_only=True) as uow:
        found = await uow.search_articles.search(text, **{"fields": FIELDS, **options})
        return [a.slug for a in found]


# -- matching and ranking ---------------------------------------------------------------


async def test_a_title_match_ranks_above_a_body_match(database):
    await _seed(database)
    assert await _slugs(database, "python") == ["py-title", "py-body"]
    # the declared vector keeps its weights whatever order the fields are listed in
    assert await _slugs(database, "python", fields=["body", "title"]) == ["py-title", "py-body"]


async def test_without_a_declared_vector_the_fields_listed_first_weigh_more(database):
    async with ShopUoW(database) as uow:
        await uow.search_memos.create(title="python", body="about snakes")
        await uow.search_memos.create(title="snakes", body="a python")
    async with ShopUoW(database) as uow:
        by_title = await uow.search_memos.search("python", fields=["title", "body"])
        by_body = await uow.search_memos.search("python", fields=["body", "title"])
        only_body = await uow.search_memos.search("python", fields=["body"])
    assert [m.title for m in by_title] == ["python", "snakes"]
    assert [m.title for m in by_body] == ["snakes", "python"]
    assert [m.title for m in only_body] == ["snakes"]


async def test_words_are_all_required_and_quotes_make_a_phrase(database):
    await _seed(database)
    assert sorted(await _slugs(database, "quick brown")) == ["brown", "fox"]
    assert await _slugs(database, '"quick brown"') == ["fox"]
    assert await _slugs(database, '"brown quick"') == ["brown"]
    assert await _slugs(database, '"quick brown') == ["fox"]  # an unclosed quote runs to the end


async def test_or_matches_either_word(database):
    await _seed(database)
    assert sorted(await _slugs(database, "rust or packaging")) == ["py-title", "rust"]
    assert sorted(await _slugs(database, "rust OR packaging")) == ["py-title", "rust"]


async def test_a_minus_excludes_a_word_or_a_phrase(database):
    await _seed(database)
    assert await _slugs(database, "fox -jumps") == ["brown"]
    assert await _slugs(database, 'fox -"quick brown"') == ["brown"]
    assert await _slugs(database, "python -rat") == ["py-title"]


async def test_search_reaches_only_the_fields_asked_for(database):
    await _seed(database)
    assert await _slugs(database, "python", fields=["body"]) == ["py-body"]
    assert await _slugs(database, "python", fields="title") == ["py-title"]


@pytest.mark.parametrize("text", ["", "   ", '"', '""', "-python", "-python -fox", "or", "!!!",
                                  "🙂", "- -", "\x00", 'or -"quick fox"'])  # fmt: skip
async def test_a_query_with_no_searchable_words_returns_nothing_without_sql(database, text):
    await _seed(database)
    async with ShopUoW(database, read_only=True) as uow:
        with recorded(database) as log:
            assert await uow.search_articles.search(text, fields=FIELDS) == []
            assert await uow.search_articles.search_highlights(text, fields=FIELDS) == []
    assert log.queries == []


@pytest.mark.parametrize("text", HOSTILE)
async def test_hostile_text_never_raises(database, text):
    await _seed(database)
    async with ShopUoW(database, read_only=True) as uow:
        found = await uow.search_articles.search(text, fields=FIELDS)
        await uow.search_articles.search_highlights(text, fields=FIELDS)
        await uow.search_memos.search(text, fields=FIELDS)
    assert all(isinstance(a, SearchArticle) for a in found)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=40) | st.text(alphabet="\"-*:()^ orNEAR\\'!&|ab🙂", max_size=30))
async def test_any_text_either_matches_or_not_without_an_error(database, text):
    async with ShopUoW(database) as uow:
        if not await uow.search_articles.exists():  # one seeding for every example
            await uow.search_articles.bulk_create(ARTICLES)
            await uow.search_memos.bulk_create([{"title": a["title"], "body": a["body"]}
                                                for a in ARTICLES])  # fmt: skip
    async with ShopUoW(database, read_only=True) as uow:
        found = await uow.search_articles.search(text, fields=FIELDS)
        marked = await uow.search_articles.search_highlights(text, fields=["title"])
        memos = await uow.search_memos.search(text, fields=FIELDS)
    assert {type(a) for a in found} <= {SearchArticle}
    assert all(isinstance(m["title"], str) for _, m in marked)
    assert len(memos) <= len(ARTICLES)


def test_the_text_is_parsed_like_websearch_to_tsquery():
    query = parse_search('quick "brown fox" or -lazy dog -"red hen" "open')
    assert [[(t.tokens, t.negated) for t in b] for b in query.branches] == [
        [(("quick",), False), (("brown", "fox"), False)],
        [(("lazy",), True), (("dog",), False), (("red", "hen"), True), (("open",), False)],
    ]
    assert query.searchable
    assert not parse_search("dog or -cat").searchable
    assert parse_search("or or python or").branches == parse_search("python").branches


# -- lookups, scope, limit and argument checks ------------------------------------------


async def test_lookups_filter_the_candidates(database):
    await _seed(database)
    assert await _slugs(database, "python", category="blog") == []
    assert await _slugs(database, "quick", category="blog", slug__ne="fox") == ["brown"]
    assert await _slugs(database, "python", category__in=["news"]) == ["py-title", "py-body"]


async def test_search_loads_relationships_and_takes_relationship_lookups(database):
    async with ShopUoW(database) as uow:
        ana = await uow.users.create(username="ana")
        bob = await uow.users.create(username="bob")
        await uow.articles.create(slug="a", title="Python tips", author_id=ana.id)
        await uow.articles.create(slug="b", title="Python tricks", author_id=bob.id)
    async with ShopUoW(database, read_only=True) as uow:
        [article] = await uow.articles.search("python", fields=["title"], load=["author"],
                                              author__username="ana")  # fmt: skip
        [(marked, excerpts)] = await uow.articles.search_highlights(
            "python", fields=["title"], load=["author"], author__username="bob"
        )
    assert (article.slug, article.author.username) == ("a", "ana")
    assert (marked.slug, marked.author.username) == ("b", "bob")
    assert excerpts == {"title": "<mark>Python</mark> tricks"}


async def test_soft_deleted_rows_never_come_back(database):
    await _seed(database)
    async with ShopUoW(database) as uow:
        hidden = await uow.search_articles.get_one(1)
        await uow.search_articles.soft_delete(hidden.id)
    assert await _slugs(database, "python") == ["py-body"]
    async with ShopUoW(database) as uow:
        marked = await uow.search_articles.search_highlights("python", fields=FIELDS)
        every = await uow.search_articles.with_deleted().search("python", fields=FIELDS)
        deleted = await uow.search_articles.only_deleted().search("python", fields=FIELDS)
    assert [a.slug for a, _ in marked] == ["py-body"]
    assert [a.slug for a in every] == ["py-title", "py-body"]
    assert [a.slug for a in deleted] == ["py-title"]


async def test_limit_bounds_the_result(database):
    await _seed(database, [{"slug": f"s{n}", "title": f"python {n}"} for n in range(30)])
    assert len(await _slugs(database, "python")) == 20
    assert len(await _slugs(database, "python", limit=5)) == 5
    assert await _slugs(database, "python", limit=0) == []


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"fields": ["nope"]}, "nope"),
        ({"fields": ["id"]}, "id"),
        ({"fields": ["search"]}, "search"),  # the vector is no field: it is never mapped
        ({"fields": ["title", "category", "created"]}, "created"),
        ({"fields": []}, None),
        ({"fields": FIELDS, "limit": -1}, None),
        ({"fields": FIELDS, "nope__eq": 1}, "nope"),
        ({"fields": FIELDS, "title__unknown": 1}, None),
        ({"fields": FIELDS, "load": ["nope"]}, None),
    ],
)
async def test_bad_fields_limits_and_lookups_are_refused_before_sql(database, arguments, field):
    async with ShopUoW(database, read_only=True) as uow:
        with recorded(database) as log:
            with pytest.raises(InvalidQueryError) as raised:
                await uow.search_articles.search("python", **arguments)
            with pytest.raises(InvalidQueryError):
                await uow.search_articles.search_highlights("python", **arguments)
    assert log.queries == []
    if field is not None:
        assert raised.value.details.get("field") == field


async def test_text_that_is_not_a_string_is_refused(database):
    async with ShopUoW(database, read_only=True) as uow:
        for text in (None, 3, b"python"):
            with pytest.raises(InvalidQueryError):
                await uow.search_articles.search(text, fields=FIELDS)


# -- the declared vector: never mapped, kept in sync by every write path -----------------


def test_the_search_column_is_in_the_table_but_never_mapped():
    assert "search" in SearchArticle.__table__.c
    assert "search" not in model_info(SearchArticle).fields
    assert "search" not in {p.key for p in inspect(SearchArticle).column_attrs}


async def test_writes_never_send_or_read_the_generated_column(database):
    with recorded(database) as log:
        async with ShopUoW(database) as uow:
            article = await uow.search_articles.create(slug="a", title="python", body=None)
            await uow.search_articles.update(article.id, body="snakes")
            await uow.search_articles.list()
    # the column `search` (not the table `search_articles`) is never named
    assert log.queries and not any(re.search(r"\bsearch\b", sql) for sql in log.queries)


async def test_every_write_path_keeps_the_search_in_sync(database):
    async def found(text: str) -> list[str]:
        return sorted(await _slugs(database, text))

    async with ShopUoW(database) as uow:
        repo = uow.search_articles
        first = await repo.create(slug="created", title="alpha", body="one")
        await repo.bulk_create([{"slug": "bulk", "title": "bravo", "body": "two"}])
        await repo.upsert(conflict_fields=["slug"], slug="upserted", title="charlie", body="3")
    assert await found("alpha") == ["created"]
    assert await found("bravo") == ["bulk"]
    assert await found("charlie") == ["upserted"]

    async with ShopUoW(database) as uow:
        repo = uow.search_articles
        await repo.update(first.id, title="delta")
        await repo.update_where({"body": "echo"}, slug="bulk")
        await repo.upsert(conflict_fields=["slug"], slug="upserted", title="foxtrot", body="3")
        await repo.upsert_many([{"slug": "many", "title": "golf", "body": "x"}],
                               conflict_fields=["slug"])  # fmt: skip
        await repo.bulk_update([{"id": first.id, "body": "hotel"}])
    assert await found("alpha") == []
    assert await found("delta hotel") == ["created"]
    assert await found("bravo echo") == ["bulk"]
    assert await found("charlie") == []
    assert await found("foxtrot") == ["upserted"]
    assert await found("golf") == ["many"]

    async with ShopUoW(database) as uow:
        repo = uow.search_articles
        await repo.delete_where(slug="bulk")
        await repo.delete(first.id)
        await repo.update_where({"title": "india"}, true())
    assert await found("echo") == []
    assert await found("delta") == []
    assert await found("india") == ["many", "upserted"]


async def test_a_rolled_back_write_leaves_the_search_as_it_was(database):
    await _seed(database)
    with pytest.raises(RuntimeError):
        async with ShopUoW(database) as uow:
            await uow.search_articles.create(slug="gone", title="zebra", body=None)
            await uow.search_articles.update_where({"title": "zebra"}, slug="rust")
            raise RuntimeError("roll back")
    assert await _slugs(database, "zebra") == []
    assert await _slugs(database, "ownership") == ["rust"]


@pytest.mark.postgres
async def test_create_all_makes_a_generated_tsvector_with_a_gin_index(database):
    column = await database.fetch_one(
        "SELECT data_type, is_generated, generation_expression FROM information_schema.columns "
        "WHERE table_name = 'search_articles' AND column_name = 'search'"
    )
    index = await database.fetch_one(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_search_articles_search'"
    )
    assert column is not None and column["data_type"] == "tsvector"
    assert column["is_generated"] == "ALWAYS"
    assert "'A'" in column["generation_expression"] and "'B'" in column["generation_expression"]
    assert index is not None and "USING gin (search)" in index["indexdef"]


@pytest.mark.postgres
async def test_search_uses_the_declared_vector_and_its_index(database):
    await _seed(database)
    statement = (
        "EXPLAIN (FORMAT TEXT) SELECT id FROM search_articles "
        "WHERE search @@ websearch_to_tsquery('english'::regconfig, 'python')"
    )
    async with database.engine.connect() as conn:
        await conn.exec_driver_sql("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in (await conn.exec_driver_sql(statement)).all())
    assert "ix_search_articles_search" in plan
    with recorded(database) as log:
        await _slugs(database, "python")
    assert any("search_articles.search @@" in sql for sql in log.queries)


@pytest.mark.sqlite
async def test_create_all_makes_an_fts5_table_and_its_triggers(database):
    rows = await database.fetch_all(
        "SELECT type, name FROM sqlite_master WHERE name LIKE 'search_articles_search_fts%' "
        "AND type IN ('table', 'trigger') ORDER BY name"
    )
    names = {(r["type"], r["name"]) for r in rows}
    assert ("table", "search_articles_search_fts") in names
    assert {n for t, n in names if t == "trigger"} == {
        "search_articles_search_fts_ai", "search_articles_search_fts_ad",
        "search_articles_search_fts_au",
    }  # fmt: skip
    assert await database.fetch_one("SELECT name FROM sqlite_master WHERE name = "
                                    "'ix_search_articles_search'") is None  # fmt: skip


@pytest.mark.sqlite
async def test_create_search_tables_indexes_the_rows_already_there(database):
    async with database.engine.begin() as conn:
        await conn.run_sync(drop_search_tables, SearchArticle.__table__)
    await _seed(database)
    async with database.engine.begin() as conn:
        await conn.run_sync(create_search_tables, SearchArticle.__table__)
    with recorded(database) as log:
        assert await _slugs(database, "python") == ["py-title", "py-body"]
    assert any("MATCH" in sql for sql in log.queries)


@pytest.mark.sqlite
async def test_without_its_fts5_table_sqlite_searches_with_like(database):
    async with database.engine.begin() as conn:
        await conn.run_sync(drop_search_tables, SearchArticle.__table__)
    await _seed(database)
    with recorded(database) as log:
        assert await _slugs(database, "python") == ["py-title", "py-body"]
        assert await _slugs(database, "fox -jumps") == ["brown"]
    assert not any("MATCH" in sql for sql in log.queries)


def test_a_declaration_refuses_bad_weights_configs_and_fields():
    with pytest.raises(InvalidQueryError):
        search_vector()
    with pytest.raises(InvalidQueryError):
        search_vector("title", "title")
    with pytest.raises(InvalidQueryError):
        search_vector("title", weights=["E"])
    with pytest.raises(InvalidQueryError):
        search_vector("title", config="english'); DROP TABLE x; --")
    with pytest.raises(InvalidQueryError):
        search_vector("title", tokenize="porter'); DROP TABLE x; --")


# -- highlights -------------------------------------------------------------------------


async def test_highlights_mark_matches_and_escape_the_text_for_html(database):
    await _seed(database)
    async with ShopUoW(database, read_only=True) as uow:
        found = await uow.search_articles.search_highlights("rules", fields=FIELDS)
    [(article, marked)] = found
    assert article.slug == "rust"
    assert marked["title"] == "Rust ownership"
    assert "<mark>rules</mark>" in marked["body"]
    assert "<b>" not in marked["body"] and "&amp;" in marked["body"]


async def test_highlights_take_their_markers_escaping_and_length_from_highlight(database):
    await _seed(database)
    plain = Highlight("[", "]", escape=False, words=None)
    async with ShopUoW(database, read_only=True) as uow:
        found = await uow.search_articles.search_highlights("fox", fields=["body"], highlight=plain)
        rust = await uow.search_articles.search_highlights("borrowing", fields=FIELDS,
                                                           highlight=plain)  # fmt: skip
        empty = await uow.search_articles.search_highlights("nothing", fields=FIELDS)
    assert {a.slug: m["body"] for a, m in found} == {
        "fox": "the quick brown [fox] jumps",
        "brown": "a [fox] that is brown",
    }
    assert rust[0][1]["body"] == "[borrowing] <b>rules</b> & more"
    assert empty[0][1] == {"title": "<mark>Nothing</mark> here", "body": ""}


async def test_highlights_work_without_a_declared_vector(database):
    async with ShopUoW(database) as uow:
        await uow.search_memos.create(title="Python <3", body="snakes and a python")
    async with ShopUoW(database, read_only=True) as uow:
        [(memo, marked)] = await uow.search_memos.search_highlights("python", fields=FIELDS)
    assert memo.title == "Python <3"
    assert marked == {"title": "<mark>Python</mark> &lt;3",
                      "body": "snakes and a <mark>python</mark>"}  # fmt: skip


async def test_highlight_excerpts_keep_about_the_words_asked_for(database):
    body = " ".join(f"word{n}" for n in range(200)) + " python " + " ".join(["tail"] * 100)
    await _seed(database, [{"slug": "long", "title": "t", "body": body}])
    async with ShopUoW(database, read_only=True) as uow:
        [(_, marked)] = await uow.search_articles.search_highlights(
            "python", fields=["body"], highlight=Highlight(words=10)
        )
    assert "<mark>python</mark>" in marked["body"]
    assert len(marked["body"].split()) <= 12


def test_a_highlight_refuses_a_length_it_cannot_keep():
    for words in (0, 1, 1001, 2.5, True):
        with pytest.raises(InvalidQueryError):
            Highlight(words=words)  # type: ignore[arg-type]


async def test_search_highlights_refuses_anything_but_a_highlight(database):
    async with ShopUoW(database, read_only=True) as uow:
        with pytest.raises(InvalidQueryError):
            await uow.search_articles.search_highlights("x", fields=FIELDS, highlight="<b>")
