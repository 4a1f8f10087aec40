"""The documented error contract over HTTP: one body shape, every status in the document.

Hostile input (a NUL character, ten thousand `in` values) is a 422 before any SQL; a
non-integer path id, a body FastAPI cannot validate and an unknown path answer with the
same `{"detail", "error"}` body as the framework's own errors; the OpenAPI document of
a generated route lists every status it can answer with, with the body it really has.
"""

from __future__ import annotations

import pytest

from examples.shop.bootstrap import seed_demo_data
from tests.fastapi.conftest import build_app, client_for, shop_app_for
from tests.support import recorded

ERROR_BODY_REF = "#/components/schemas/ErrorBody"


@pytest.fixture
async def seeded(shop_database):
    await seed_demo_data(shop_database)
    return shop_database


def assert_error_body(response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail", "error"}, body
    assert isinstance(body["detail"], str) and body["error"] == error


@pytest.mark.parametrize("count", [3, 10_001])
async def test_a_nul_character_in_a_long_sku_list_is_a_422_not_a_503(shop_client, seeded, count):
    values = ",".join(str(i) for i in range(count)) + ",a%00b"  # short: the URL has a limit
    with recorded(seeded) as log:
        response = await shop_client.get(f"/products?sku__in={values}")
    assert_error_body(response, 422, "InvalidQueryError")
    assert "NUL" in response.json()["detail"]
    assert log.queries == []  # refused before any SQL
    assert "retry-after" not in response.headers


async def test_a_long_sku_list_without_nul_is_answered(shop_client, seeded):
    values = ",".join(str(i) for i in range(10_001)) + ",TEA-001"
    with recorded(seeded) as log:
        response = await shop_client.get(f"/products?sku__in={values}")
    assert response.status_code == 200, response.text
    assert [p["sku"] for p in response.json()["items"]] == ["TEA-001"]
    if seeded.dialect == "postgresql":
        assert all("TEA-001" not in sql and "9999" not in sql for sql in log.sql)


@pytest.mark.parametrize(
    "params",
    [{"name": "tea\x00"}, {"name__icontains": "\x00"}, {"category__not_in": "a,\x00"}],
)
async def test_a_nul_character_in_any_text_filter_is_a_422(shop_client, seeded, params):
    assert_error_body(await shop_client.get("/products", params=params), 422, "InvalidQueryError")


@pytest.mark.parametrize("path", ["/products/abc", "/products/1.5", "/accounts/x"])
async def test_a_non_integer_path_id_gets_the_error_body(shop_client, path):
    assert_error_body(await shop_client.get(path), 404, "NotFoundError")
    assert_error_body(await shop_client.patch(path, json={}), 404, "NotFoundError")


async def test_an_unknown_path_or_method_gets_the_error_body(shop_client):
    assert_error_body(await shop_client.get("/no/such/path"), 404, "NotFoundError")
    assert_error_body(await shop_client.put("/products/1", json={}), 405, "MethodNotAllowedError")


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/products", {"json": {"sku": 1}}),
        ("POST", "/accounts", {"json": {"owner": ""}}),
        (
            "POST",
            "/checkout",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
        ),
        ("PATCH", "/products/1", {"json": {"price": "-1"}}),
        ("GET", "/products/featured", {"params": {"n": "many"}}),
        ("GET", "/products", {"params": {"page_size": "1000"}}),
    ],
)
async def test_every_422_has_the_one_documented_shape(shop_client, seeded, method, path, kwargs):
    response = await shop_client.request(method, path, **kwargs)
    assert_error_body(response, 422, "InvalidQueryError")


async def test_a_patch_field_documented_as_nullable_accepts_null(shop_client, seeded):
    schema = (await shop_client.get("/openapi.json")).json()
    for name in ("ProductPatch", "AccountPatch"):
        properties = schema["components"]["schemas"][name]["properties"]
        nullable = [k for k, v in properties.items() if {"type": "null"} in v.get("anyOf", [])]
        refused = [k for k, v in properties.items() if k not in nullable]
        path = "/products/1" if name == "ProductPatch" else "/accounts/1"
        for field in nullable:
            response = await shop_client.patch(path, json={field: None})
            assert response.status_code == 200, (name, field, response.text)
            assert response.json()[field] is None
        for field in refused:  # not nullable in the document: null is a 422
            response = await shop_client.patch(path, json={field: None})
            assert_error_body(response, 422, "InvalidQueryError")
            assert "default" not in properties[field]


def responses_of(schema, path: str, method: str) -> dict:
    return schema["paths"][path][method]["responses"]


def body_ref(response: dict) -> str | None:
    return response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")


async def test_generated_routes_document_every_status_with_its_body(database):
    async with client_for(build_app(database)) as client:
        schema = (await client.get("/openapi.json")).json()
    expected = {
        # a read can meet a serialization failure too (409, retry)
        ("/products", "get"): {"200", "409", "422", "500", "503"},
        ("/products", "post"): {"201", "400", "409", "422", "500", "503"},
        ("/products/{item_id}", "get"): {"200", "404", "409", "422", "500", "503"},
        ("/products/{item_id}", "patch"): {"200", "400", "404", "409", "422", "500", "503"},
        ("/products/{item_id}", "delete"): {"204", "404", "409", "422", "500", "503"},
        # a versioned model: 304 on get, 412 on a stale If-Match
        ("/accounts/{item_id}", "get"): {"200", "304", "404", "409", "422", "500", "503"},
        ("/accounts/{item_id}", "patch"): {"200", "400", "404", "409", "412", "422", "500", "503"},
        ("/accounts/{item_id}", "delete"): {"204", "404", "409", "412", "422", "500", "503"},
    }
    for (path, method), statuses in expected.items():
        responses = responses_of(schema, path, method)
        assert set(responses) == statuses, (path, method, sorted(responses))
        for status, response in responses.items():
            if int(status) >= 400:
                assert body_ref(response) == ERROR_BODY_REF, (path, method, status)
            if status in ("204", "304"):
                assert "content" not in response
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    retry = responses_of(schema, "/products", "get")["503"]["headers"]
    assert "Retry-After" in retry


async def test_the_documented_422_is_what_fastapi_validation_answers(shop_database):
    app = shop_app_for(shop_database)
    async with client_for(app) as client:
        schema = (await client.get("/openapi.json")).json()
        response = await client.post("/transfers", json={"source_id": 1, "target_id": 1})
    assert_error_body(response, 422, "InvalidQueryError")
    for path in schema["paths"].values():
        for operation in path.values():
            if "422" in operation["responses"]:
                assert body_ref(operation["responses"]["422"]) == ERROR_BODY_REF


async def test_an_application_with_its_own_validation_handler_keeps_its_422_document():
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    from orm_fastapi import register_error_handlers

    app = FastAPI()
    register_error_handlers(app)

    async def spec_errors(request, exc):
        return JSONResponse({"errors": {"body": ["invalid"]}}, status_code=422)

    app.add_exception_handler(RequestValidationError, spec_errors)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    async with client_for(app) as client:
        schema = (await client.get("/openapi.json")).json()
    responses = schema["paths"]["/items/{item_id}"]["get"]["responses"]
    assert body_ref(responses["422"]) == "#/components/schemas/HTTPValidationError"
    assert body_ref(responses["500"]) == ERROR_BODY_REF
