"""The RealWorld example over HTTP, on SQLite and PostgreSQL: auth, profiles, articles,
favorites, comments, the spec's error bodies, statements per request and concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from examples.realworld.unit_of_work import RealWorldUnitOfWork
from orm_core import Database
from tests.support import recorded

Headers = dict[str, str]


async def register(client: httpx.AsyncClient, name: str) -> Headers:
    """Register `name` (email `name@example.com`, password `secret-name`); its auth headers."""
    body = {
        "user": {"username": name, "email": f"{name}@example.com", "password": f"secret-{name}"}
    }
    response = await client.post("/api/users", json=body)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Token {response.json()['user']['token']}"}


async def write(
    client: httpx.AsyncClient, headers: Headers, title: str, tags: list[str] | None = None
) -> dict[str, Any]:
    article = {
        "title": title,
        "description": "about " + title,
        "body": "text",
        "tagList": tags or [],
    }
    response = await client.post("/api/articles", json={"article": article}, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()["article"]
    return created


async def titles(
    client: httpx.AsyncClient, query: str, headers: Headers | None = None
) -> list[str]:
    response = await client.get(f"/api/articles{query}", headers=headers or {})
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["articlesCount"] >= len(page["articles"])
    return [str(a["title"]) for a in page["articles"]]


def spec_errors(response: httpx.Response) -> list[str]:
    """The messages of the spec's error body, which must be the whole body."""
    body = response.json()
    assert set(body) == {"errors"} and set(body["errors"]) == {"body"}, body
    messages: list[str] = body["errors"]["body"]
    assert all(isinstance(m, str) for m in messages)
    return messages


# -- users ------------------------------------------------------------------------------


async def test_registers_logs_in_and_reads_the_current_user(
    conduit: httpx.AsyncClient, realworld_database: Database
) -> None:
    headers = await register(conduit, "jake")

    login = await conduit.post(
        "/api/users/login", json={"user": {"email": "JAKE@example.com", "password": "secret-jake"}}
    )
    assert login.status_code == 200
    user = login.json()["user"]
    assert user | {"token": None} == {
        "email": "jake@example.com",
        "token": None,
        "username": "jake",
        "bio": "",
        "image": None,
    }
    me = await conduit.get("/api/user", headers={"Authorization": f"Token {user['token']}"})
    assert me.json()["user"]["username"] == "jake"
    assert (await conduit.get("/api/user", headers=headers)).status_code == 200

    async with RealWorldUnitOfWork(realworld_database, read_only=True) as uow:
        stored = await uow.users.by_username("jake")
    assert stored is not None and stored.password_hash.startswith("$argon2id$")
    assert "secret-jake" not in stored.password_hash


async def test_refuses_bad_credentials_and_tokens_with_401(conduit: httpx.AsyncClient) -> None:
    await register(conduit, "jake")
    wrong = await conduit.post(
        "/api/users/login", json={"user": {"email": "jake@example.com", "password": "nope"}}
    )
    assert wrong.status_code == 401
    assert spec_errors(wrong) == ["email or password is invalid"]
    unknown = await conduit.post(
        "/api/users/login", json={"user": {"email": "who@example.com", "password": "nope"}}
    )
    assert unknown.status_code == 401
    for header in ({}, {"Authorization": "Token not.a.jwt"}, {"Authorization": "Basic abc"}):
        response = await conduit.get("/api/user", headers=header)
        assert response.status_code == 401, header
        assert spec_errors(response)
    forged = await conduit.get("/api/articles", headers={"Authorization": "Token a.b.c"})
    assert forged.status_code == 401


async def test_answers_invalid_input_with_the_spec_error_body(conduit: httpx.AsyncClient) -> None:
    missing = await conduit.post("/api/users", json={"user": {"email": "a@b.c", "password": "x"}})
    assert missing.status_code == 422
    assert any(m.startswith("user.username") for m in spec_errors(missing))
    bad_email = await conduit.post(
        "/api/users", json={"user": {"username": "a", "email": "nope", "password": "x"}}
    )
    assert bad_email.status_code == 422 and spec_errors(bad_email)
    bad_limit = await conduit.get("/api/articles?limit=0")
    assert bad_limit.status_code == 422 and spec_errors(bad_limit)
    assert (await conduit.post("/api/users", content=b"{")).status_code == 422


async def test_refuses_a_taken_username_or_email_with_422(conduit: httpx.AsyncClient) -> None:
    headers = await register(conduit, "jake")
    await register(conduit, "jane")
    again = await conduit.post(
        "/api/users",
        json={"user": {"username": "jake", "email": "Jake@Example.com", "password": "x"}},
    )
    assert again.status_code == 422
    assert spec_errors(again) == ["username has already been taken", "email has already been taken"]
    taken = await conduit.put("/api/user", json={"user": {"username": "jane"}}, headers=headers)
    assert taken.status_code == 422
    assert spec_errors(taken) == ["username has already been taken"]


async def test_updates_the_current_user_and_rehashes_a_new_password(
    conduit: httpx.AsyncClient,
) -> None:
    headers = await register(conduit, "jake")
    changed = await conduit.put(
        "/api/user",
        json={
            "user": {
                "bio": "I work at statefarm",
                "image": "https://i.example/j.png",
                "password": "new-secret",
                "username": "jacob",
            }
        },
        headers=headers,
    )
    assert changed.status_code == 200
    assert changed.json()["user"]["bio"] == "I work at statefarm"
    assert changed.json()["user"]["username"] == "jacob"
    old = {"user": {"email": "jake@example.com", "password": "secret-jake"}}
    assert (await conduit.post("/api/users/login", json=old)).status_code == 401
    new = {"user": {"email": "jake@example.com", "password": "new-secret"}}
    assert (await conduit.post("/api/users/login", json=new)).status_code == 200


# -- profiles ---------------------------------------------------------------------------


async def test_follows_and_unfollows_idempotently(conduit: httpx.AsyncClient) -> None:
    jake = await register(conduit, "jake")
    await register(conduit, "celeb")

    anonymous = await conduit.get("/api/profiles/celeb")
    assert anonymous.json()["profile"] == {
        "username": "celeb",
        "bio": "",
        "image": None,
        "following": False,
    }
    for _ in range(2):
        followed = await conduit.post("/api/profiles/celeb/follow", headers=jake)
        assert followed.status_code == 200 and followed.json()["profile"]["following"] is True
    seen = await conduit.get("/api/profiles/celeb", headers=jake)
    assert seen.json()["profile"]["following"] is True
    for _ in range(2):
        dropped = await conduit.delete("/api/profiles/celeb/follow", headers=jake)
        assert dropped.json()["profile"]["following"] is False

    itself = await conduit.post("/api/profiles/jake/follow", headers=jake)
    assert itself.status_code == 422 and spec_errors(itself)
    missing = await conduit.get("/api/profiles/nobody")
    assert missing.status_code == 404 and spec_errors(missing) == ["profile not found"]
    assert (await conduit.post("/api/profiles/celeb/follow")).status_code == 401


# -- articles ---------------------------------------------------------------------------


async def test_writes_reads_updates_and_deletes_an_article(
    conduit: httpx.AsyncClient, realworld_database: Database
) -> None:
    jake = await register(conduit, "jake")
    jane = await register(conduit, "jane")
    created = await write(conduit, jake, "How to train your dragon", ["training", "dragons"])
    assert created["slug"] == "how-to-train-your-dragon"
    assert created["tagList"] == ["dragons", "training"]
    assert created["favorited"] is False and created["favoritesCount"] == 0
    assert created["author"] == {"username": "jake", "bio": "", "image": None, "following": False}
    assert created["createdAt"].endswith("Z") and "." in created["createdAt"]

    twin = await write(conduit, jane, "How to train your dragon")
    assert twin["slug"].startswith("how-to-train-your-dragon-")

    slug = created["slug"]
    fetched = (await conduit.get(f"/api/articles/{slug}")).json()["article"]
    assert fetched == created

    foreign = await conduit.put(
        f"/api/articles/{slug}", json={"article": {"body": "x"}}, headers=jane
    )
    assert foreign.status_code == 403 and spec_errors(foreign)
    updated = await conduit.put(
        f"/api/articles/{slug}", json={"article": {"body": "With two hands"}}, headers=jake
    )
    article = updated.json()["article"]
    assert article["body"] == "With two hands" and article["slug"] == slug
    assert article["updatedAt"] > created["updatedAt"]
    renamed = await conduit.put(
        f"/api/articles/{slug}", json={"article": {"title": "Dragons 101"}}, headers=jake
    )
    slug = renamed.json()["article"]["slug"]
    assert slug.startswith("dragons-101")

    comment = await conduit.post(
        f"/api/articles/{slug}/comments", json={"comment": {"body": "Thanks!"}}, headers=jane
    )
    assert comment.status_code == 200
    await conduit.post(f"/api/articles/{slug}/favorite", headers=jane)

    assert (await conduit.delete(f"/api/articles/{slug}", headers=jane)).status_code == 403
    assert (await conduit.delete(f"/api/articles/{slug}", headers=jake)).status_code == 204
    gone = await conduit.get(f"/api/articles/{slug}")
    assert gone.status_code == 404 and spec_errors(gone) == ["article not found"]
    # the database cascaded the delete to the comment, the favorite and the tag links
    async with RealWorldUnitOfWork(realworld_database, read_only=True) as uow:
        assert await uow.comments.count() == 0
        jane_user = await uow.users.by_username("jane")
        assert jane_user is not None
        assert await uow.users.count_related([jane_user.id], "favorites") == {jane_user.id: 0}
    assert (await conduit.get("/api/tags")).json() == {"tags": []}


async def test_comments_carry_their_authors_and_only_authors_delete_them(
    conduit: httpx.AsyncClient,
) -> None:
    jake = await register(conduit, "jake")
    jane = await register(conduit, "jane")
    slug = (await write(conduit, jake, "Dragons"))["slug"]
    await conduit.post("/api/profiles/jane/follow", headers=jake)
    ids = []
    for author, body in ((jane, "first"), (jake, "second")):
        response = await conduit.post(
            f"/api/articles/{slug}/comments", json={"comment": {"body": body}}, headers=author
        )
        ids.append(response.json()["comment"]["id"])

    listed = (await conduit.get(f"/api/articles/{slug}/comments", headers=jake)).json()
    assert [
        (c["body"], c["author"]["username"], c["author"]["following"]) for c in listed["comments"]
    ] == [("first", "jane", True), ("second", "jake", False)]
    anonymous = (await conduit.get(f"/api/articles/{slug}/comments")).json()
    assert [c["author"]["following"] for c in anonymous["comments"]] == [False, False]

    refused = await conduit.delete(f"/api/articles/{slug}/comments/{ids[0]}", headers=jake)
    assert refused.status_code == 403
    deleted = await conduit.delete(f"/api/articles/{slug}/comments/{ids[0]}", headers=jane)
    assert deleted.status_code == 204
    again = await conduit.delete(f"/api/articles/{slug}/comments/{ids[0]}", headers=jane)
    assert again.status_code == 404 and spec_errors(again) == ["comment not found"]
    missing = await conduit.get("/api/articles/no-such-article/comments")
    assert missing.status_code == 404


async def test_filters_the_list_by_tag_author_and_favorited_and_serves_the_feed(
    conduit: httpx.AsyncClient,
) -> None:
    jake = await register(conduit, "jake")
    jane = await register(conduit, "jane")
    reader = await register(conduit, "reader")
    a = await write(conduit, jake, "A", ["dragons", "training"])
    b = await write(conduit, jane, "B", ["dragons"])
    await write(conduit, jane, "C", ["cooking"])
    await conduit.post(f"/api/articles/{a['slug']}/favorite", headers=reader)
    await conduit.post(f"/api/articles/{b['slug']}/favorite", headers=reader)
    await conduit.post(f"/api/articles/{b['slug']}/favorite", headers=jake)

    assert await titles(conduit, "") == ["C", "B", "A"]
    assert await titles(conduit, "?tag=dragons") == ["B", "A"]
    assert await titles(conduit, "?author=jane") == ["C", "B"]
    assert await titles(conduit, "?favorited=reader") == ["B", "A"]
    assert await titles(conduit, "?favorited=reader&author=jake") == ["A"]
    assert await titles(conduit, "?tag=dragons&favorited=jake") == ["B"]
    assert await titles(conduit, "?tag=nothing") == []
    assert await titles(conduit, "?author=nobody") == []
    assert await titles(conduit, "?limit=1&offset=1") == ["B"]
    page = (await conduit.get("/api/articles?limit=1&offset=1")).json()
    assert page["articlesCount"] == 3

    mine = (await conduit.get("/api/articles?tag=dragons", headers=reader)).json()["articles"]
    assert [(x["favorited"], x["favoritesCount"]) for x in mine] == [(True, 2), (True, 1)]

    assert (await conduit.get("/api/articles/feed")).status_code == 401
    empty = (await conduit.get("/api/articles/feed", headers=reader)).json()
    assert empty == {"articles": [], "articlesCount": 0}
    await conduit.post("/api/profiles/jane/follow", headers=reader)
    assert await titles(conduit, "/feed", reader) == ["C", "B"]
    feed = (await conduit.get("/api/articles/feed?limit=1", headers=reader)).json()
    assert feed["articlesCount"] == 2
    assert feed["articles"][0]["author"]["following"] is True
    assert (await conduit.get("/api/tags")).json() == {"tags": ["cooking", "dragons", "training"]}


async def test_favoriting_is_idempotent_and_leaves_updated_at_alone(
    conduit: httpx.AsyncClient,
) -> None:
    jake = await register(conduit, "jake")
    jane = await register(conduit, "jane")
    article = await write(conduit, jake, "Dragons")
    url = f"/api/articles/{article['slug']}/favorite"

    for _ in range(2):
        favored = (await conduit.post(url, headers=jane)).json()["article"]
        assert (favored["favorited"], favored["favoritesCount"]) == (True, 1)
        assert favored["updatedAt"] == article["updatedAt"]
    seen = (await conduit.get(f"/api/articles/{article['slug']}", headers=jane)).json()
    assert seen["article"]["favorited"] is True
    for _ in range(2):
        dropped = (await conduit.delete(url, headers=jane)).json()["article"]
        assert (dropped["favorited"], dropped["favoritesCount"]) == (False, 0)
        assert dropped["updatedAt"] == article["updatedAt"]
    assert (await conduit.post("/api/articles/nothing/favorite", headers=jane)).status_code == 404


# -- statements per request and concurrency ---------------------------------------------


async def statements(
    conduit: httpx.AsyncClient, db: Database, url: str, headers: Headers, expected: int
) -> int:
    """The statements (transaction control aside) one GET sends; checks it got `expected` rows."""
    with recorded(db) as log:
        response = await conduit.get(url, headers=headers)
    assert response.status_code == 200
    assert len(response.json()["articles"]) == expected
    return len(log.queries)


async def test_lists_and_feed_take_a_fixed_number_of_statements(
    conduit: httpx.AsyncClient, realworld_database: Database
) -> None:
    reader = await register(conduit, "reader")
    authors = [await register(conduit, f"author{n}") for n in range(4)]
    for n in range(24):
        author = authors[n % 4]
        article = await write(conduit, author, f"Article {n}", [f"tag{n % 5}", "common"])
        if n % 2:
            await conduit.post(f"/api/articles/{article['slug']}/favorite", headers=reader)
    for n in (0, 1):
        await conduit.post(f"/api/profiles/author{n}/follow", headers=reader)

    counts = {
        (url, limit): await statements(
            conduit,
            realworld_database,
            f"{url}?limit={limit}",
            reader,
            limit if limit == 1 else size,
        )
        for url, size in (("/api/articles", 20), ("/api/articles/feed", 12))
        for limit in (1, 20)
    }
    # no N+1: the page size never changes the count
    assert counts[("/api/articles", 1)] == counts[("/api/articles", 20)]
    assert counts[("/api/articles/feed", 1)] == counts[("/api/articles/feed", 20)]
    # feed: the page with its total and authors, its tags, the reader's favorites
    assert counts[("/api/articles/feed", 20)] <= 3
    # the list also asks which authors the reader follows: one statement for the page
    assert counts[("/api/articles", 20)] <= 4
    anonymous = await statements(conduit, realworld_database, "/api/articles?limit=20", {}, 20)
    assert anonymous <= 2


async def test_concurrent_favorites_of_one_user_count_once(
    conduit: httpx.AsyncClient, realworld_database: Database
) -> None:
    jake = await register(conduit, "jake")
    jane = await register(conduit, "jane")
    slug = (await write(conduit, jake, "Dragons"))["slug"]

    responses = await asyncio.gather(
        *(conduit.post(f"/api/articles/{slug}/favorite", headers=jane) for _ in range(10))
    )
    assert [r.status_code for r in responses] == [200] * 10
    assert {r.json()["article"]["favoritesCount"] for r in responses} == {1}

    async with RealWorldUnitOfWork(realworld_database, read_only=True) as uow:
        article = await uow.articles.by_slug(slug)
        assert article is not None and article.favorites_count == 1
        assert await uow.articles.count_related([article.id], "favorited_by") == {article.id: 1}
