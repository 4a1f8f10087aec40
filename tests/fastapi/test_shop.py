"""The example shop over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest

from examples.shop.bootstrap import DEMO_PRODUCTS, seed_demo_data


@pytest.fixture
async def seeded(shop_database):
    await seed_demo_data(shop_database)
    return shop_database


async def test_products_crud_runs_through_crud_router(shop_client, seeded):
    listing = await shop_client.get("/products", params={"category": "tea", "order_by": "-price"})
    assert listing.status_code == 200
    assert [p["sku"] for p in listing.json()["items"]] == ["TEA-002", "TEA-001"]
    created = await shop_client.post(
        "/products", json={"sku": "NEW", "name": "New", "price": "3.00"}
    )
    assert created.status_code == 201
    product_id = created.json()["id"]
    patched = await shop_client.patch(f"/products/{product_id}", json={"stock": 4})
    assert patched.json()["stock"] == 4
    assert (await shop_client.delete(f"/products/{product_id}")).status_code == 204
    assert (await shop_client.get(f"/products/{product_id}")).status_code == 404
    negative = await shop_client.post("/products", json={"sku": "N", "name": "n", "price": "-1"})
    assert negative.status_code == 422


async def test_sync_upserts_products_by_sku(shop_client, seeded):
    feed = [
        {"sku": "TEA-001", "name": "Green tea (organic)", "price": "4.80", "stock": 90},
        {"sku": "NEW-001", "name": "Matcha", "price": "19.00", "stock": 12, "category": "tea"},
    ]
    response = await shop_client.post("/products/sync", json=feed)
    assert response.status_code == 200 and response.json() == {"synced": 2}
    body = (await shop_client.get("/products", params={"sku__in": "TEA-001,NEW-001"})).json()
    by_sku = {p["sku"]: p for p in body["items"]}
    assert by_sku["TEA-001"]["name"] == "Green tea (organic)" and by_sku["TEA-001"]["id"] == 1
    assert by_sku["NEW-001"]["price"] == "19.00"
    assert (await shop_client.get("/products")).json()["total"] == len(DEMO_PRODUCTS) + 1
    bad = await shop_client.post("/products/sync", json=[{"sku": "X", "name": "x"}])
    assert bad.status_code == 422


async def test_views_are_counted_atomically_and_missing_products_are_404(shop_client, seeded):
    for expected in (1, 2, 3):
        response = await shop_client.post("/products/2/views")
        assert response.json() == {"id": 2, "view_count": expected}
    missing = await shop_client.post("/products/999/views")
    assert missing.status_code == 404 and missing.json()["error"] == "NotFoundError"


async def test_featured_products_are_distinct_and_in_stock(shop_client, seeded):
    await shop_client.patch("/products/1", json={"stock": 0})
    response = await shop_client.get("/products/featured", params={"n": 10})
    assert response.status_code == 200
    ids = [p["id"] for p in response.json()]
    assert sorted(ids) == [2, 3, 4, 5]
    assert len((await shop_client.get("/products/featured", params={"n": 2})).json()) == 2
    assert (await shop_client.get("/products/featured", params={"n": 0})).status_code == 422


async def test_checkout_decrements_stock_and_records_the_order(shop_client, seeded):
    response = await shop_client.post(
        "/checkout", json={"product_id": 4, "quantity": 2, "customer": "ann"}
    )
    assert response.status_code == 201
    order = response.json()
    assert order["product_id"] == 4 and order["quantity"] == 2
    assert Decimal(order["total"]) == Decimal("99.80")
    assert (await shop_client.get("/products/4")).json()["stock"] == 3


async def test_checkout_never_oversells_and_leaves_no_order_behind(
    shop_client, seeded, shop_database
):
    too_many = await shop_client.post("/checkout", json={"product_id": 4, "quantity": 6})
    assert too_many.status_code == 409
    assert too_many.json() == {
        "detail": "fewer than 6 of product 4 in stock",
        "error": "OutOfStockError",
    }
    assert (await shop_client.get("/products/4")).json()["stock"] == 5
    assert await shop_database.fetch_one("SELECT count(*) AS n FROM orders") == {"n": 0}
    missing = await shop_client.post("/checkout", json={"product_id": 999})
    assert missing.status_code == 404
    assert (
        await shop_client.post("/checkout", json={"product_id": 4, "quantity": 0})
    ).status_code == 422


async def test_transfer_moves_money_between_locked_accounts(shop_client, seeded):
    response = await shop_client.post(
        "/transfers", json={"source_id": 2, "target_id": 1, "amount": "20.00"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["source"]["balance"] == "30.00" and body["target"]["balance"] == "120.00"
    assert body["source"]["version"] == 2


async def test_transfer_refusals(shop_client, seeded):
    broke = await shop_client.post(
        "/transfers", json={"source_id": 2, "target_id": 1, "amount": "50.01"}
    )
    assert broke.status_code == 409 and broke.json()["error"] == "InsufficientFundsError"
    same = await shop_client.post(
        "/transfers", json={"source_id": 1, "target_id": 1, "amount": "1"}
    )
    assert same.status_code == 422
    missing = await shop_client.post(
        "/transfers", json={"source_id": 1, "target_id": 9, "amount": "1"}
    )
    assert missing.status_code == 404
    assert (await shop_client.get("/accounts/1")).json()["balance"] == "100.00"


async def test_accounts_open_read_and_update_with_optimistic_locking(shop_client, seeded):
    opened = await shop_client.post("/accounts", json={"owner": "cid", "balance": "5"})
    assert opened.status_code == 201 and opened.headers["etag"] == '"1"'
    location = opened.headers["location"]
    got = await shop_client.get(location)
    assert got.json()["owner"] == "cid" and got.headers["etag"] == '"1"'
    assert (await shop_client.get(location, headers={"If-None-Match": '"1"'})).status_code == 304
    updated = await shop_client.patch(
        location, json={"email": "cid@example.com"}, headers={"If-Match": '"1"'}
    )
    assert updated.status_code == 200 and updated.headers["etag"] == '"2"'
    stale = await shop_client.patch(location, json={"owner": "dan"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.json()["error"] == "ConcurrentModificationError"
    garbage = await shop_client.patch(
        location, json={"owner": "dan"}, headers={"If-Match": "nonsense"}
    )
    assert garbage.status_code == 412
    duplicate = await shop_client.post("/accounts", json={"owner": "alice"})
    assert duplicate.status_code == 409 and duplicate.json()["error"] == "DuplicateError"
    assert (await shop_client.patch(location, json={"balance": "1000"})).status_code == 422
    assert (await shop_client.get("/accounts/999")).status_code == 404


async def test_health_reports_the_shop_database(shop_client, seeded):
    response = await shop_client.get("/health/db")
    assert response.status_code == 200 and response.json()["status"] == "healthy"


async def test_create_app_builds_nothing_at_import_and_starts_on_sqlite(tmp_path, monkeypatch):
    import httpx

    from examples.shop.application import create_app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            body = (await client.get("/products")).json()
    assert body["total"] == len(DEMO_PRODUCTS)
    assert (tmp_path / "shop.db").exists()
