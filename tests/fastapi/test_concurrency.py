"""Per-request units of work under load, cancellation and pool exhaustion (PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import pytest
from dependency_injector import providers

from examples.shop.bootstrap import seed_demo_data
from orm_core import Database
from tests.fastapi.conftest import client_for, shop_app_for

pytestmark = pytest.mark.postgres


async def idle_in_transaction(observer: Database, url_database: str) -> int:
    row = await observer.fetch_one(
        "SELECT count(*) AS n FROM pg_stat_activity "
        "WHERE datname = :db AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()",
        {"db": url_database},
    )
    assert row is not None
    return int(row["n"])


async def test_200_concurrent_checkouts_sell_exactly_the_stock(shop_database, database):
    await seed_demo_data(shop_database)
    async with client_for(shop_app_for(shop_database)) as client:
        await client.patch("/products/1", json={"stock": 50})

        async def buy(i: int) -> httpx.Response:
            return await client.post("/checkout", json={"product_id": 1, "customer": f"c{i}"})

        responses = await asyncio.gather(*(buy(i) for i in range(200)))
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {201: 50, 409: 150}
        for response in responses:
            if response.status_code == 409:
                assert response.json() == {
                    "detail": "fewer than 1 of product 1 in stock",
                    "error": "OutOfStockError",
                }
        assert (await client.get("/products/1")).json()["stock"] == 0
    orders = await shop_database.fetch_one("SELECT count(*) AS n FROM orders WHERE product_id = 1")
    assert orders == {"n": 50}
    assert shop_database.pool_status()["checked_out"] == 0
    assert await idle_in_transaction(database, shop_database.url.database) == 0


async def test_cancelled_requests_holding_row_locks_leave_nothing_open(shop_database, database):
    await seed_demo_data(shop_database)
    app = shop_app_for(shop_database)
    container = app.state.orm_container
    entered = 0

    @app.post("/hold/{product_id}")
    async def hold(product_id: int):
        nonlocal entered
        async with container.unit_of_work() as uow:
            await uow.products.lock_many([product_id])  # blocks while another request holds it
            entered += 1
            await asyncio.sleep(60)

    async with client_for(app) as client:
        tasks = [asyncio.create_task(client.post("/hold/1")) for _ in range(100)]

        async def waiting_on_the_lock() -> int:
            row = await database.fetch_one(
                "SELECT count(*) AS n FROM pg_stat_activity "
                "WHERE datname = :db AND wait_event_type = 'Lock'",
                {"db": shop_database.url.database},
            )
            return int(row["n"]) if row is not None else 0

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            checked_out = shop_database.pool_status()["checked_out"]
            if entered >= 1 and checked_out >= 30 and await waiting_on_the_lock() >= 20:
                break
            await asyncio.sleep(0.05)
        try:
            assert entered == 1  # one holds the lock, the others wait on it or on the pool
            assert shop_database.pool_status()["checked_out"] >= 30
            assert await waiting_on_the_lock() >= 20
            assert await idle_in_transaction(database, shop_database.url.database) >= 1
        finally:
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)

        assert shop_database.pool_status()["checked_out"] == 0
        assert await idle_in_transaction(database, shop_database.url.database) == 0
        # the row is free again: a NOWAIT lock succeeds at once
        async with container.unit_of_work() as uow:
            assert [p.id for p in await uow.products.lock_many([1], nowait=True)] == [1]
        assert (await client.post("/checkout", json={"product_id": 1})).status_code == 201


async def test_an_exhausted_pool_answers_503_in_time_and_recovers(shop_database, database):
    await seed_demo_data(shop_database)
    small = Database(
        shop_database.url,
        pool_size=2,
        max_overflow=0,
        pool_timeout=1.0,
    )
    app = shop_app_for(shop_database)
    container = app.state.orm_container
    container.database.override(providers.Object(small))

    @app.get("/slow")
    async def slow():
        async with container.unit_of_work() as uow:
            await uow.products.count()
            await asyncio.sleep(2.0)
        return {"ok": True}

    try:
        async with client_for(app) as client:

            async def timed() -> tuple[int, float, dict]:
                started = time.monotonic()
                response = await client.get("/slow")
                return response.status_code, time.monotonic() - started, response.json()

            results = await asyncio.gather(*(timed() for _ in range(20)))
            statuses = Counter(status for status, _, _ in results)
            assert statuses == {200: 2, 503: 18}
            for status, elapsed, body in results:
                if status == 503:
                    assert 0.9 <= elapsed < 1.8, elapsed
                    assert body["error"] == "DatabaseUnavailableError"
            assert small.pool_status()["checked_out"] == 0
            started = time.monotonic()
            response = await client.get("/products/1")
            assert response.status_code == 200 and time.monotonic() - started < 0.5
    finally:
        await small.dispose()


async def test_concurrent_requests_never_share_a_session(shop_database):
    await seed_demo_data(shop_database)
    async with client_for(shop_app_for(shop_database)) as client:
        reads = [client.get(f"/products/{1 + i % 5}") for i in range(60)]
        views = [client.post(f"/products/{1 + i % 5}/views") for i in range(60)]
        responses = await asyncio.gather(*reads, *views)
        assert {r.status_code for r in responses} == {200}
        totals = sum(
            [(await client.get(f"/products/{i}")).json()["view_count"] for i in range(1, 6)]
        )
        assert totals == 60
    assert shop_database.pool_status()["checked_out"] == 0


async def test_every_test_app_returned_its_connections(shop_database, database):
    assert shop_database.pool_status()["checked_out"] == 0
    assert database.pool_status()["checked_out"] == 0
