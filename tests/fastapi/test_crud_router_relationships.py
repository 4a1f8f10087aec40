"""`crud_router` over a model with relationships: `load=`, related filters and ordering."""

from __future__ import annotations

import pytest
from dependency_injector import providers
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

from orm_core import InvalidQueryError
from orm_fastapi import crud_router, setup_orm
from orm_repositories import AsyncRepository
from tests.fastapi.conftest import TestContainer, client_for
from tests.models import BlogArticle
from tests.repositories.test_relationships import seed_blog
from tests.support import recorded


class AuthorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    username: str


class TagOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str


class ArticleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    slug: str
    author: AuthorOut
    tags: list[TagOut]


class ArticleIn(BaseModel):
    slug: str
    title: str
    author_id: int


class ArticlePatch(BaseModel):
    title: str | None = None


def blog_app(database) -> FastAPI:
    container = TestContainer()
    container.database.override(providers.Object(database))
    app = FastAPI()
    setup_orm(app, container)
    app.include_router(
        crud_router(
            AsyncRepository[BlogArticle],
            unit_of_work=container.unit_of_work,
            read_schema=ArticleOut,
            create_schema=ArticleIn,
            update_schema=ArticlePatch,
            prefix="/articles",
            filter_fields=["slug", "author__username", "tags__name"],
            order_fields=["slug", "author__username"],
            load=["author", "tags"],
        )
    )
    return app


@pytest.fixture
async def blog(database):
    ids = await seed_blog(database)
    async with client_for(blog_app(database)) as http:
        yield http, ids


async def test_reads_answer_with_the_loaded_relationships(blog, database):
    client, ids = blog
    with recorded(database) as log:
        listed = await client.get("/articles", params={"order_by": "slug", "page_size": 10})
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [a["author"]["username"] for a in items] == ["jake", "jake", "anna", "bob"]
    assert sorted(t["name"] for t in items[0]["tags"]) == ["python", "sql"]
    assert len(log.queries) == 3  # the page and its total, tags, the authors' badges
    one = await client.get(f"/articles/{ids['a3']}")
    assert one.json()["author"] == {"username": "anna"}


async def test_writes_answer_with_the_loaded_relationships_too(blog):
    client, ids = blog
    created = await client.post(
        "/articles", json={"slug": "new", "title": "New", "author_id": ids["bob"]}
    )
    assert created.status_code == 201, created.text
    assert created.json()["author"] == {"username": "bob"} and created.json()["tags"] == []
    patched = await client.patch(f"/articles/{ids['a1']}", json={"title": "Edited"})
    assert patched.status_code == 200, patched.text
    assert sorted(t["name"] for t in patched.json()["tags"]) == ["python", "sql"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"author__username": "jake"}, ["a1", "a2"]),
        ({"author__username__iexact": "ANNA"}, ["a3"]),
        ({"tags__name__in": "python,web"}, ["a1", "a2", "a3"]),
        ({"tags__name__ne": "python"}, ["a2", "a4"]),
        ({"tags__name__isnull": "true"}, ["a4"]),
        ({"order_by": "-author__username,slug"}, ["a1", "a2", "a4", "a3"]),
    ],
)
async def test_list_filters_and_orders_across_relationships(blog, params, expected):
    client, _ = blog
    response = await client.get("/articles", params={"order_by": "slug", **params})
    assert response.status_code == 200, response.text
    assert [a["slug"] for a in response.json()["items"]] == expected


@pytest.mark.parametrize("params", [{"author__bio": "x"}, {"order_by": "tags__name"}])
async def test_relationship_paths_outside_the_whitelist_are_422(blog, params):
    client, _ = blog
    response = await client.get("/articles", params=params)
    assert response.status_code == 422
    assert response.json()["error"] == "InvalidQueryError"


@pytest.mark.parametrize(
    "settings",
    [
        {"filter_fields": ["author__nope"]},
        {"order_fields": ["tags__name"]},
        {"load": ["nope"]},
        {"filter_fields": ["author"]},
    ],
)
def test_bad_relationship_settings_fail_when_the_router_is_built(settings):
    with pytest.raises(InvalidQueryError):
        crud_router(
            BlogArticle,
            unit_of_work=lambda: None,
            read_schema=ArticleOut,
            create_schema=ArticleIn,
            update_schema=ArticlePatch,
            prefix="/x",
            **settings,
        )


def test_the_openapi_schema_of_a_crud_router_shows_declared_constraints():
    from orm_core import schema_for
    from tests.models import Listing

    app = FastAPI()
    app.include_router(
        crud_router(
            Listing,
            unit_of_work=lambda: None,
            read_schema=schema_for(Listing, name="ListingOut"),
            create_schema=schema_for(Listing, name="ListingIn", exclude=["id"]),
            update_schema=schema_for(Listing, name="ListingPatch", exclude=["id"], optional=True),
            prefix="/listings",
        )
    )
    components = app.openapi()["components"]["schemas"]
    created = components["ListingIn"]["properties"]
    assert created["slug"]["pattern"] == "^[a-z0-9-]+$" and created["slug"]["minLength"] == 3
    assert created["stock"]["minimum"] == 0 and created["stock"]["maximum"] == 100
    assert created["status"]["enum"] == ["draft", "live", "sold"]
    assert components["ListingPatch"]["properties"]["stock"]["maximum"] == 100


async def test_crud_router_filters_json_paths_with_json_values(database):
    from typing import Any

    from tests.models import Sheet
    from tests.repositories.test_json_lookups import SHEETS

    class SheetOut(BaseModel):
        model_config = ConfigDict(from_attributes=True)
        name: str
        data: Any = None

    container = TestContainer()
    container.database.override(providers.Object(database))
    app = FastAPI()
    setup_orm(app, container)
    app.include_router(
        crud_router(
            Sheet, unit_of_work=container.unit_of_work, read_schema=SheetOut,
            create_schema=SheetOut, update_schema=SheetOut, prefix="/sheets",
            filter_fields=["data__colour", "data__size", "data__tags", "data"],
        )
    )  # fmt: skip
    async with container.unit_of_work() as uow:
        for name, data in SHEETS.items():
            await uow.sheets.create(name=name, data=data)
    async with client_for(app) as client:

        async def names(**params: str) -> list[str]:
            response = await client.get("/sheets", params=params)
            assert response.status_code == 200, response.text
            return sorted(item["name"] for item in response.json()["items"])

        assert await names(data__colour="red") == ["a"]
        assert await names(data__size__gt="3") == ["c"]
        assert await names(data__size__gt='"a"') == ["b"]
        assert await names(data__colour__in="red,blue") == ["a", "b"]
        assert await names(data__tags__contains='"y"') == ["a", "b"]
        assert await names(data__has_key="meta") == ["a", "b"]
        assert await names(data__colour__icontains="E") == ["a", "b", "c"]
        assert await names(data__size__isnull="true") == ["e", "f"]
        bad = await client.get("/sheets", params={"data__size__gt": "[1]"})
        assert bad.status_code == 422 and bad.json()["error"] == "InvalidQueryError"
