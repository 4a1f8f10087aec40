"""`crud_router` over the test models, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

import httpx
import pytest
from fastapi import FastAPI

from orm_core import Database, UnitOfWork
from orm_fastapi import crud_router
from orm_repositories import AsyncRepository
from tests.fastapi.conftest import ProductIn, ProductOut, ProductPatch
from tests.models import Membership, Product


async def seed(client: httpx.AsyncClient) -> list[dict]:
    rows = [
        {"sku": "A", "name": "apple", "price": "1.50", "stock": 10, "category": "fruit"},
        {"sku": "B", "name": "banana", "price": "0.25", "stock": 0, "category": "fruit"},
        {"sku": "C", "name": "cherry pie", "price": "12.00", "stock": 3, "category": "bakery"},
        {"sku": "D", "name": "donut", "price": "2.00", "stock": 7, "category": None},
    ]
    created = []
    for row in rows:
        response = await client.post("/products", json=row)
        assert response.status_code == 201, response.text
        created.append(response.json())
    return created


async def test_create_answers_201_with_location_and_the_stored_row(client):
    response = await client.post("/products", json={"sku": "A", "name": "apple", "price": "1.5"})
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == 1 and body["price"] == "1.50" and body["stock"] == 0
    assert response.headers["location"] == "http://test/products/1"
    assert (await client.get(response.headers["location"])).json() == body


async def test_create_with_a_taken_unique_value_is_a_409(client):
    await seed(client)
    response = await client.post("/products", json={"sku": "A", "name": "again", "price": "1"})
    assert response.status_code == 409
    assert response.json()["error"] == "DuplicateError"
    assert set(response.json()) == {"detail", "error"}


async def test_create_with_an_invalid_body_is_a_422(client):
    response = await client.post("/products", json={"sku": "A", "name": "x", "price": "abc"})
    assert response.status_code == 422
    response = await client.post("/products", json={"sku": "A" * 51, "name": "x", "price": "1"})
    assert response.status_code == 422


async def test_get_returns_the_row_and_a_missing_one_is_a_404(client):
    created = await seed(client)
    response = await client.get(f"/products/{created[2]['id']}")
    assert response.status_code == 200 and response.json() == created[2]
    missing = await client.get("/products/999")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Product not found", "error": "NotFoundError"}


async def test_get_with_an_id_out_of_the_column_range_is_a_404(client):
    response = await client.get(f"/products/{2**40}")
    assert response.status_code == 404
    assert response.json()["error"] == "NotFoundError"


@pytest.mark.parametrize(
    "params",
    [{"stock__gt": str(2**40)}, {"stock__lt": str(-(2**40))}, {"sku__in": "Z," + "x" * 60}],
)
async def test_list_filters_no_row_can_satisfy_answer_an_empty_page(client, params):
    await seed(client)
    response = await client.get("/products", params=params)
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 0


async def test_list_paginates_and_reports_the_page(client):
    await seed(client)
    response = await client.get("/products", params={"page": 2, "page_size": 3, "order_by": "name"})
    assert response.status_code == 200
    body = response.json()
    assert [p["sku"] for p in body["items"]] == ["D"]
    page = {k: body[k] for k in body if k != "items"}
    assert page == {
        "total": 4, "page": 2, "page_size": 3, "total_pages": 2,
        "has_next": False, "has_prev": True,
    }  # fmt: skip


async def test_list_of_nothing_has_zero_pages(client):
    body = (await client.get("/products")).json()
    assert body == {
        "items": [], "total": 0, "page": 1, "page_size": 20, "total_pages": 0,
        "has_next": False, "has_prev": False,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"price__gt": "1.5"}, ["C", "D"]),
        ({"price__gte": "1.5", "order_by": "-price"}, ["C", "D", "A"]),
        ({"price__lt": "2"}, ["A", "B"]),
        ({"price__between": "1,2"}, ["A", "D"]),
        ({"category": "fruit"}, ["A", "B"]),
        ({"category__ne": "fruit"}, ["C"]),
        ({"category__in": "fruit,bakery"}, ["A", "B", "C"]),
        ({"category__not_in": "fruit"}, ["C"]),
        ({"category__isnull": "true"}, ["D"]),
        ({"category__isnull": "false", "stock__gt": "0"}, ["A", "C"]),
        ({"sku__in": "A,D"}, ["A", "D"]),
        ({"stock__in": "0,3"}, ["B", "C"]),
        ({"category__icontains": "AKE"}, ["C"]),
        ({"category__startswith": "fr", "order_by": "-stock,price"}, ["A", "B"]),
        ({"order_by": "-stock"}, ["A", "D", "C", "B"]),
        ({"price__in": ""}, []),
    ],
)
async def test_list_filters_by_whitelisted_lookups(client, params, expected):
    await seed(client)
    response = await client.get("/products", params=params)
    assert response.status_code == 200, response.text
    assert [p["sku"] for p in response.json()["items"]] == expected


@pytest.mark.parametrize(
    "params",
    [
        {"view_count__gt": "1"},  # a column, but not whitelisted
        {"name": "apple"},  # not whitelisted either
        {"price__regex": "1"},  # no such operator
        {"order_by": "view_count"},  # not an order field
        {"order_by": "price,"},
        {"page_size": "51"},  # over max_page_size
        {"page_size": "0"},
        {"page": "0"},
        {"price__gt": "cheap"},  # not a number
        {"stock__gt": "1.5"},
        {"price__in": "1,abc"},
        {"price__between": "1,2,3"},
        {"price__between": "1"},
        {"created_at__gt": "yesterday"},
        {"category__isnull": "maybe"},
        {"sku__in": "A,x\x00y"},  # a NUL character
    ],
)
async def test_list_rejects_bad_query_parameters_with_422(client, params):
    await seed(client)
    response = await client.get("/products", params=params)
    assert response.status_code == 422, response.text


async def test_list_converts_datetime_filters(client):
    created = await seed(client)
    stamp = created[1]["created_at"]
    response = await client.get("/products", params={"created_at__gt": stamp})
    assert [p["sku"] for p in response.json()["items"]] == ["C", "D"]


async def test_patch_changes_only_the_given_fields(client):
    created = await seed(client)
    response = await client.patch(f"/products/{created[0]['id']}", json={"price": "9.99"})
    assert response.status_code == 200
    assert response.json() == {**created[0], "price": "9.99"}
    assert (await client.get(f"/products/{created[0]['id']}")).json()["price"] == "9.99"


async def test_patch_refuses_null_for_a_required_column_and_unknown_rows(client):
    created = await seed(client)
    response = await client.patch(f"/products/{created[0]['id']}", json={"name": None})
    assert response.status_code == 422 and response.json()["error"] == "InvalidQueryError"
    response = await client.patch(f"/products/{created[0]['id']}", json={"category": None})
    assert response.status_code == 200 and response.json()["category"] is None
    assert (await client.patch("/products/999", json={"name": "x"})).status_code == 404
    assert (await client.patch("/products/1", json={"price": "x"})).status_code == 422


async def test_patch_violating_a_check_constraint_is_a_409(client):
    created = await seed(client)
    response = await client.patch(f"/products/{created[0]['id']}", json={"stock": -1})
    assert response.status_code == 409
    assert response.json()["error"] == "ConstraintError"
    assert (await client.get(f"/products/{created[0]['id']}")).json()["stock"] == 10


async def test_delete_answers_204_then_the_row_is_gone(client):
    created = await seed(client)
    response = await client.delete(f"/products/{created[0]['id']}")
    assert response.status_code == 204 and response.content == b""
    assert (await client.get(f"/products/{created[0]['id']}")).status_code == 404
    assert (await client.delete(f"/products/{created[0]['id']}")).status_code == 404


async def test_delete_of_a_soft_deletable_model_soft_deletes(client, database):
    note = (await client.post("/notes", json={"title": "hello"})).json()
    assert (await client.delete(f"/notes/{note['id']}")).status_code == 204
    assert (await client.get(f"/notes/{note['id']}")).status_code == 404
    rows = await database.fetch_all("SELECT deleted_at FROM notes")
    assert len(rows) == 1 and rows[0]["deleted_at"] is not None


async def test_versioned_rows_carry_an_etag_and_honour_if_none_match(client):
    created = await client.post("/accounts", json={"owner": "ann"})
    assert created.status_code == 201 and created.headers["etag"] == '"1"'
    got = await client.get("/accounts/1")
    assert got.headers["etag"] == '"1"'
    not_modified = await client.get("/accounts/1", headers={"If-None-Match": '"1"'})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert (await client.get("/accounts/1", headers={"If-None-Match": 'W/"7"'})).status_code == 200


async def test_patch_with_a_current_if_match_bumps_the_version(client):
    await client.post("/accounts", json={"owner": "ann"})
    response = await client.patch("/accounts/1", json={"owner": "bea"}, headers={"If-Match": '"1"'})
    assert response.status_code == 200
    assert response.headers["etag"] == '"2"' and response.json()["version"] == 2


async def test_patch_and_delete_with_a_stale_if_match_are_412_and_change_nothing(client):
    await client.post("/accounts", json={"owner": "ann"})
    await client.patch("/accounts/1", json={"owner": "bea"})
    stale = await client.patch("/accounts/1", json={"owner": "cid"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json()["error"] == "ConcurrentModificationError"
    gone = await client.delete("/accounts/1", headers={"If-Match": '"1"'})
    assert gone.status_code == 412
    current = (await client.get("/accounts/1")).json()
    assert current["owner"] == "bea" and current["version"] == 2
    assert (await client.delete("/accounts/1", headers={"If-Match": '"2"'})).status_code == 204


@pytest.mark.postgres
async def test_the_if_match_check_is_atomic_with_the_write(client, database):
    """A write landing between the version check and the UPDATE still fails the request."""
    from tests.models import Account

    await client.post("/accounts", json={"owner": "ann"})

    async def concurrent_write():
        async with UnitOfWork(database) as uow:
            await uow.repository(Account).update(1, owner="zed")

    real_update_fields = AsyncRepository.update_fields

    async def update_after_concurrent_write(self, entity, **values):
        await concurrent_write()
        return await real_update_fields(self, entity, **values)

    AsyncRepository.update_fields = update_after_concurrent_write  # type: ignore[method-assign]
    try:
        response = await client.patch(
            "/accounts/1", json={"owner": "bea"}, headers={"If-Match": '"1"'}
        )
    finally:
        AsyncRepository.update_fields = real_update_fields  # type: ignore[method-assign]
    assert response.status_code == 412
    current = (await client.get("/accounts/1")).json()
    assert current["owner"] == "zed" and current["version"] == 2


async def test_openapi_documents_every_route_and_filter(app):
    schema = app.openapi()
    paths = schema["paths"]
    assert set(paths["/products"]) == {"get", "post"}
    assert set(paths["/products/{item_id}"]) == {"get", "patch", "delete"}
    names = {p["name"] for p in paths["/products"]["get"]["parameters"]}
    assert {"page", "page_size", "order_by", "price", "price__gt", "price__between",
            "category__in", "category__isnull", "sku__icontains"} <= names  # fmt: skip
    assert "stock__isnull" not in names  # not nullable
    assert "view_count__gt" not in names
    price_gt = next(p for p in paths["/products"]["get"]["parameters"] if p["name"] == "price__gt")
    assert price_gt["in"] == "query"
    assert paths["/products"]["post"]["responses"].keys() >= {"201", "409", "422"}
    assert paths["/products/{item_id}"]["delete"]["responses"].keys() >= {"204", "404"}
    headers = {p["name"] for p in paths["/accounts/{item_id}"]["patch"]["parameters"]}
    assert "If-Match" in headers
    assert "412" in paths["/accounts/{item_id}"]["patch"]["responses"]
    page_schema = paths["/products"]["get"]["responses"]["200"]["content"]["application/json"]
    assert page_schema["schema"]["$ref"].endswith("ProductOutPage")


async def test_composite_keys_and_unknown_fields_are_refused_when_building(database):
    with pytest.raises(TypeError):
        crud_router(
            Membership, unit_of_work=lambda: UnitOfWork(database), read_schema=ProductOut,
            create_schema=ProductIn, update_schema=ProductPatch, prefix="/m",
        )  # fmt: skip
    with pytest.raises(ValueError):
        crud_router(
            Product, unit_of_work=lambda: UnitOfWork(database), read_schema=ProductOut,
            create_schema=ProductIn, update_schema=ProductPatch, prefix="/p",
            filter_fields=["colour"],
        )  # fmt: skip


async def test_a_repository_class_is_built_on_each_request_session(database):
    class ProductRepository(AsyncRepository[Product]):
        sessions: ClassVar[list] = []

        def __init__(self, session):
            super().__init__(session)
            ProductRepository.sessions.append(session)

    app = FastAPI()
    from orm_fastapi import register_error_handlers

    register_error_handlers(app)
    app.include_router(
        crud_router(
            ProductRepository,
            unit_of_work=lambda: UnitOfWork(database),
            read_schema=ProductOut,
            create_schema=ProductIn,
            update_schema=ProductPatch,
            prefix="/p",
        )
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.post("/p", json={"sku": "A", "name": "a", "price": "1"})).status_code == 201
        assert (await c.get("/p/1")).json()["sku"] == "A"
        assert (await c.get("/p/2")).status_code == 404
    sessions = ProductRepository.sessions
    assert len(sessions) == 3 and len({id(s) for s in sessions}) == 3
    assert database.pool_status()["checked_out"] == 0


async def test_a_write_is_committed_before_the_response_starts(database):
    """The response must not be sent before the commit (a commit after `yield` would be)."""
    app = FastAPI()
    from orm_fastapi import register_error_handlers

    register_error_handlers(app)
    app.include_router(
        crud_router(
            Product,
            unit_of_work=lambda: UnitOfWork(database),
            read_schema=ProductOut,
            create_schema=ProductIn,
            update_schema=ProductPatch,
            prefix="/p",
        )
    )
    observer = Database(database.url) if not database.is_sqlite else database
    seen: list[int] = []

    def wrap(inner):
        async def middleware(scope, receive, send):
            async def checking_send(message):
                if message["type"] == "http.response.start":
                    row = await observer.fetch_one("SELECT count(*) AS n FROM products")
                    seen.append(row["n"])
                await send(message)

            await inner(scope, receive, checking_send)

        return middleware

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=wrap(app)), base_url="http://t"
    ) as c:
        response = await c.post("/p", json={"sku": "A", "name": "a", "price": "1"})
    assert response.status_code == 201
    assert seen == [1]
    if observer is not database:
        await observer.dispose()


async def test_money_values_round_trip_exactly(client):
    response = await client.post("/products", json={"sku": "M", "name": "m", "price": "12345.67"})
    assert Decimal(response.json()["price"]) == Decimal("12345.67")
