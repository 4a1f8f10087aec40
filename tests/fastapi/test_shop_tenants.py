"""The example shop's `X-Tenant` mode over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from examples.shop.bootstrap import DEMO_PRODUCTS
from examples.shop.models import Account, Order, Product
from examples.shop.tenancy import DEFAULT_TENANT
from examples.shop.unit_of_work import ShopUnitOfWork
from orm_core import ALL_TENANTS, Database, WriteEvent, off, on
from tests.fastapi.conftest import client_for, shop_app_for
from tests.support import recorded


@pytest.fixture
async def tenant_client(shop_database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(shop_app_for(shop_database, tenant_header=True)) as http:
        yield http


def tenant(name: str, user: str | None = None) -> dict[str, str]:
    return {"X-Tenant": name, **({"X-User": user} if user else {})}


A, B, SHOP = tenant("acme"), tenant("globex"), tenant(DEFAULT_TENANT)


async def stored(database: Database, *columns) -> list[tuple]:
    """Every tenant's rows of `columns`, sorted: what the database really holds."""
    async with ShopUnitOfWork(database, tenant=ALL_TENANTS) as uow:
        return sorted(tuple(row) for row in await uow.session.execute(select(*columns)))


async def new_product(client: httpx.AsyncClient, headers: dict[str, str], **values) -> dict:
    body = {"sku": "TEA-001", "name": "Green tea", "price": "4.50", "stock": 10, **values}
    response = await client.post("/products", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_one_tenants_products_and_orders_are_invisible_to_another(
    tenant_client, shop_database
):
    product = await new_product(tenant_client, SHOP)
    item = product["id"]
    assert (await tenant_client.post(f"/products/{item}/views", headers=SHOP)).status_code == 200
    bought = await tenant_client.post("/checkout", json={"product_id": item}, headers=SHOP)
    assert bought.status_code == 201

    for method, path, body in [
        ("GET", f"/products/{item}", None),
        ("PATCH", f"/products/{item}", {"stock": 0}),
        ("DELETE", f"/products/{item}", None),
        ("POST", f"/products/{item}/views", None),
        ("POST", "/checkout", {"product_id": item}),
    ]:
        response = await tenant_client.request(method, path, json=body, headers=B)
        assert response.status_code == 404, (method, path, response.text)
    assert (await tenant_client.get("/products", headers=B)).json()["total"] == 0
    assert (await tenant_client.get("/products/featured", headers=B)).json() == []

    mine = await tenant_client.get(f"/products/{item}", headers=SHOP)
    assert (mine.json()["stock"], mine.json()["view_count"]) == (9, 1)  # B changed nothing
    assert (await tenant_client.get("/products", headers=SHOP)).json()["total"] == 1
    featured = (await tenant_client.get("/products/featured", headers=SHOP)).json()
    assert [p["id"] for p in featured] == [item]
    assert await stored(shop_database, Product.tenant_id, Product.sku) == [
        (DEFAULT_TENANT, "TEA-001")
    ]
    assert await stored(shop_database, Order.tenant_id, Order.product_id) == [
        (DEFAULT_TENANT, item)
    ]


async def test_every_tenant_counts_its_own_views_and_sales(tenant_client):
    for headers in (A, B):
        item = (await new_product(tenant_client, headers))["id"]
        viewed = await tenant_client.post(f"/products/{item}/views", headers=headers)
        assert viewed.status_code == 200, (headers, viewed.text)
        bought = await tenant_client.post("/checkout", json={"product_id": item}, headers=headers)
        assert bought.status_code == 201, (headers, bought.text)


async def test_the_same_sku_and_owner_exist_once_per_tenant(tenant_client, shop_database):
    mine = await new_product(tenant_client, A, name="Acme tea")
    theirs = await new_product(tenant_client, B, name="Globex tea")
    assert mine["id"] != theirs["id"]
    duplicate = await tenant_client.post(
        "/products", json={"sku": "TEA-001", "name": "again", "price": "1"}, headers=A
    )
    assert duplicate.status_code == 409 and duplicate.json()["error"] == "DuplicateError"

    # a feed synced for globex updates globex's TEA-001 only, and adds globex's own CUP-001
    feed = [
        {"sku": "TEA-001", "name": "Globex tea (organic)", "price": "5.00", "stock": 3},
        {"sku": "CUP-001", "name": "Cup", "price": "12.00"},
    ]
    synced = await tenant_client.post("/products/sync", json=feed, headers=B)
    assert synced.status_code == 200 and synced.json() == {"synced": 2}
    assert (await tenant_client.get(f"/products/{mine['id']}", headers=A)).json()["name"] == (
        "Acme tea"
    )
    assert await stored(shop_database, Product.tenant_id, Product.sku, Product.name) == [
        ("acme", "TEA-001", "Acme tea"),
        ("globex", "CUP-001", "Cup"),
        ("globex", "TEA-001", "Globex tea (organic)"),
    ]

    for headers in (A, B):
        opened = await tenant_client.post("/accounts", json={"owner": "alice"}, headers=headers)
        assert opened.status_code == 201
    again = await tenant_client.post("/accounts", json={"owner": "alice"}, headers=B)
    assert again.status_code == 409
    assert await stored(shop_database, Account.tenant_id, Account.owner) == [
        ("acme", "alice"),
        ("globex", "alice"),
    ]


async def test_accounts_and_transfers_stay_within_their_tenant(tenant_client, shop_database):
    async def open_account(headers: dict[str, str], owner: str, balance: str) -> int:
        response = await tenant_client.post(
            "/accounts", json={"owner": owner, "balance": balance}, headers=headers
        )
        assert response.status_code == 201
        return int(response.json()["id"])

    alice, bob = await open_account(A, "alice", "100"), await open_account(A, "bob", "0")
    carol = await open_account(B, "carol", "100")

    assert (await tenant_client.get(f"/accounts/{alice}", headers=B)).status_code == 404
    patched = await tenant_client.patch(f"/accounts/{alice}", json={"email": "x@y"}, headers=B)
    assert patched.status_code == 404
    for source, target in [(alice, bob), (carol, alice), (alice, carol)]:
        moved = await tenant_client.post(
            "/transfers",
            json={"source_id": source, "target_id": target, "amount": "10"},
            headers=B,
        )
        assert moved.status_code == 404, (source, target)
    assert await stored(shop_database, Account.owner, Account.balance) == [
        ("alice", Decimal("100.00")),
        ("bob", Decimal("0.00")),
        ("carol", Decimal("100.00")),
    ]

    moved = await tenant_client.post(
        "/transfers", json={"source_id": alice, "target_id": bob, "amount": "10"}, headers=A
    )
    assert moved.status_code == 200
    assert moved.json()["target"]["balance"] == "10.00"
    assert (await tenant_client.get(f"/accounts/{bob}", headers=A)).json()["balance"] == "10.00"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Tenant": ""},
        {"X-Tenant": "Acme"},
        {"X-Tenant": "acme corp"},
        {"X-Tenant": "acme/../globex"},
        {"X-Tenant": "a" * 65},
        {"X-Tenant": "acme", "X-User": ""},
        {"X-Tenant": "acme", "X-User": "u" * 256},
    ],
    ids=["missing", "empty", "upper-case", "space", "slash", "too-long", "empty-user", "long-user"],
)
async def test_a_missing_or_invalid_tenant_is_refused_before_any_sql(
    tenant_client, shop_database, headers
):
    requests = [
        ("GET", "/products", None),
        ("POST", "/products", {"sku": "X", "name": "x", "price": "1"}),
        ("GET", "/products/1", None),
        ("PATCH", "/products/1", {"stock": 1}),
        ("DELETE", "/products/1", None),
        ("POST", "/products/sync", [{"sku": "X", "name": "x", "price": "1"}]),
        ("GET", "/products/featured", None),
        ("POST", "/products/1/views", None),
        ("POST", "/checkout", {"product_id": 1}),
        ("POST", "/accounts", {"owner": "o"}),
        ("GET", "/accounts/1", None),
        ("PATCH", "/accounts/1", {"email": "e"}),
        ("POST", "/transfers", {"source_id": 1, "target_id": 2, "amount": "1"}),
    ]
    culprit = "x-user" if "X-User" in headers else "x-tenant"
    with recorded(shop_database) as log:
        for method, path, body in requests:
            response = await tenant_client.request(method, path, json=body, headers=headers)
            assert response.status_code == 422, (method, path, response.text)
            assert culprit in response.text, (method, path, response.text)
    assert log.sql == []
    assert await stored(shop_database, Product.id) == []
    assert await stored(shop_database, Account.id) == []
    # the same requests with a valid tenant pass validation: the header was the reason
    for method, path, body in requests:
        response = await tenant_client.request(method, path, json=body, headers=SHOP)
        assert response.status_code != 422, (method, path, response.text)


async def test_the_user_header_becomes_the_actor_of_the_requests_unit_of_work(tenant_client):
    seen: list[tuple[str, str | None]] = []

    @on("after_create", Order)
    def record(event: WriteEvent) -> None:
        seen.append((event.unit_of_work.tenant, event.unit_of_work.actor))

    try:
        product = await new_product(tenant_client, SHOP)
        for headers in (tenant(DEFAULT_TENANT, "carol"), SHOP):
            bought = await tenant_client.post(
                "/checkout", json={"product_id": product["id"]}, headers=headers
            )
            assert bought.status_code == 201
    finally:
        off(record)
    assert seen == [(DEFAULT_TENANT, "carol"), (DEFAULT_TENANT, None)]


async def test_openapi_documents_the_tenant_header_only_in_header_mode(tenant_client, shop_client):
    schema = (await tenant_client.get("/openapi.json")).json()
    operations = {
        f"{method.upper()} {path}": operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }
    assert len(operations) == 17
    for name, operation in operations.items():
        headers = {
            p["name"]: p["required"] for p in operation.get("parameters", []) if p["in"] == "header"
        }
        if name.startswith("GET /health/"):
            assert headers == {}
        else:
            assert headers.get("x-tenant") is True and headers.get("x-user") is False, name
    default = (await shop_client.get("/openapi.json")).text.lower()
    assert "/products/sync" in default and "x-tenant" not in default and "x-user" not in default


async def test_the_default_mode_is_one_tenant_and_takes_no_headers(
    shop_client, tenant_client, shop_database
):
    # the default mode ignores an X-Tenant header: everything is the shop's tenant
    for headers in ({}, B):
        created = await shop_client.post(
            "/products", json={"sku": f"S-{len(headers)}", "name": "s", "price": "1"},
            headers=headers,
        )  # fmt: skip
        assert created.status_code == 201
        assert "tenant_id" not in created.json()  # answers look as they did before tenants
    assert (await shop_client.get("/products")).json()["total"] == 2
    assert await stored(shop_database, Product.tenant_id, Product.sku) == [
        (DEFAULT_TENANT, "S-0"),
        (DEFAULT_TENANT, "S-1"),
    ]
    # header mode reaches the same rows as the tenant "shop"
    listed = (await tenant_client.get("/products", headers=SHOP)).json()
    assert listed["total"] == 2 and "tenant_id" not in listed["items"][0]
    assert (await tenant_client.get("/products", headers=B)).json()["total"] == 0


async def test_header_mode_seeds_the_demo_data_into_the_shop_tenant_only(shop_database):
    app = shop_app_for(shop_database, tenant_header=True, seed=True)
    async with app.router.lifespan_context(app), client_for(app) as client:
        shop = (await client.get("/products", headers=SHOP)).json()
        other = (await client.get("/products", headers=A)).json()
        owners = await client.get("/accounts/1", headers=SHOP)
    assert shop["total"] == len(DEMO_PRODUCTS) and other["total"] == 0
    assert owners.json()["owner"] == "alice"
    assert {t for (t,) in await stored(shop_database, Product.tenant_id)} == {DEFAULT_TENANT}


@pytest.mark.parametrize(("value", "status"), [("1", 422), ("true", 422), ("0", 200), ("", 200)])
async def test_the_environment_turns_the_header_mode_on(shop_database, monkeypatch, value, status):
    monkeypatch.setenv("SHOP_TENANT_HEADER", value)
    async with client_for(shop_app_for(shop_database)) as client:
        assert (await client.get("/products")).status_code == status
