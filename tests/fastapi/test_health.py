"""The health routes: liveness, readiness, pool metrics, query statistics, guards, no secrets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from fastapi import Depends, FastAPI, Header, HTTPException
from sqlalchemy.engine import make_url

from orm_core import Database, UnitOfWork
from orm_fastapi import OrmContainer, setup_orm
from orm_fastapi.setup import IDEMPOTENCY_STATE_KEY
from orm_repositories import AsyncRepository
from tests.fastapi.conftest import build_app, client_for
from tests.models import Product

ROUTES = ["/health/live", "/health/db", "/health/db/metrics", "/health/db/statistics"]
DB_ROUTES = ROUTES[1:]


def health_app(database: Database, **options: Any) -> FastAPI:
    container = OrmContainer()
    container.database.override(providers.Object(database))
    app = FastAPI()
    setup_orm(app, container, **options)
    return app


async def get_all(app: FastAPI, headers: dict[str, str] | None = None) -> dict[str, httpx.Response]:
    async with client_for(app) as client:
        return {path: await client.get(path, headers=headers) for path in ROUTES}


def strings_in(value: Any) -> list[str]:
    """Every key and string value of a JSON document."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *strings_in(v)]]
    if isinstance(value, list):
        return [s for item in value for s in strings_in(item)]
    return [value] if isinstance(value, str) else []


def assert_no_url_parts(url: Any, responses: Sequence[httpx.Response]) -> None:
    """No body shows the URL, or its host, port, user, password or database name."""
    parsed = make_url(url)
    secrets = [parsed.render_as_string(hide_password=True), parsed.host, parsed.username]
    secrets += [parsed.password, parsed.database]
    for response in responses:
        text = response.text
        for part in filter(None, secrets):
            assert str(part) not in text, (part, response.request.url, text)
        if parsed.port is not None:
            assert not any(str(parsed.port) in s for s in strings_in(response.json())), text


async def test_every_route_answers_with_its_body(database):
    await database.fetch_all("SELECT 1")  # a statement for the statistics
    responses = await get_all(health_app(database))
    assert all(r.status_code == 200 for r in responses.values())
    assert responses["/health/live"].json() == {"status": "alive"}
    ready = responses["/health/db"].json()
    assert ready["status"] == "healthy" and set(ready) == {"status", "response_time_ms", "pool"}
    assert ready["pool"]["checked_out"] == 0
    metrics = responses["/health/db/metrics"].json()
    assert metrics["saturated"] is False and metrics["checkout_timeouts"] == 0
    assert {"pool_size", "checked_out", "overflow", "utilisation", "checkout_waits"} <= set(metrics)
    assert {"checkout_time_p50_ms", "checkout_time_p95_ms"} <= set(metrics)
    statistics = responses["/health/db/statistics"].json()
    assert set(statistics) == set(database.monitor.stats())
    assert statistics["total_queries"] >= 1
    assert_no_url_parts(database.url, list(responses.values()))


async def test_health_false_removes_every_health_route(database):
    app = health_app(database, health=False)
    responses = await get_all(app)
    assert {r.status_code for r in responses.values()} == {404}
    assert not any(path.startswith("/health") for path in app.openapi()["paths"])


async def require_key(x_api_key: str | None = Header(default=None)) -> None:
    if x_api_key is None:
        raise HTTPException(status_code=401, detail="an API key is required")
    if x_api_key != "let-me-in":
        raise HTTPException(status_code=403, detail="wrong API key")


@pytest.mark.parametrize("guard", [require_key, Depends(require_key)], ids=["callable", "Depends"])
async def test_guards_refuse_the_database_routes_but_never_liveness(database, guard):
    app = health_app(database, health_dependencies=[guard])
    anonymous = await get_all(app)
    assert anonymous["/health/live"].status_code == 200
    assert all(anonymous[path].status_code == 401 for path in DB_ROUTES)
    wrong = await get_all(app, headers={"X-API-Key": "guess"})
    assert all(wrong[path].status_code == 403 for path in DB_ROUTES)
    allowed = await get_all(app, headers={"X-API-Key": "let-me-in"})
    assert all(response.status_code == 200 for response in allowed.values())


def test_a_guard_that_is_no_dependency_is_refused(database):
    with pytest.raises(TypeError, match="health dependency"):
        health_app(database, health_dependencies=["not callable"])


async def test_an_unreachable_database_is_unhealthy_and_shows_no_credentials():
    url = "postgresql+asyncpg://app_user:s3cret-pw@127.0.0.1:1/secret_db"
    unreachable = Database(url, pool_timeout=1)
    try:
        responses = await get_all(health_app(unreachable))
    finally:
        await unreachable.dispose()
    assert responses["/health/live"].status_code == 200
    ready = responses["/health/db"]
    assert ready.status_code == 503
    assert ready.json()["status"] == "unhealthy"
    assert ready.json()["error"] == "DatabaseUnavailableError"
    assert responses["/health/db/metrics"].status_code == 200
    assert responses["/health/db/statistics"].status_code == 200
    assert_no_url_parts(url, list(responses.values()))


async def test_readiness_says_saturated_at_once_when_every_connection_is_taken(database):
    small = Database(database.url, pool_size=1, max_overflow=0, pool_timeout=5)
    app = health_app(small)
    try:
        async with small.engine_for(read_only=True).connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
            async with client_for(app) as client:
                started = time.perf_counter()
                ready = await client.get("/health/db")
                elapsed = time.perf_counter() - started
                metrics = (await client.get("/health/db/metrics")).json()
        assert ready.status_code == 200 and ready.json()["status"] == "saturated"
        assert elapsed < 0.5
        assert metrics["saturated"] is True and metrics["utilisation"] == 1.0
    finally:
        await small.dispose()


def test_setup_orm_keeps_the_idempotency_flag_for_the_idempotency_layer(database):
    assert getattr(health_app(database).state, IDEMPOTENCY_STATE_KEY) is False
    app = health_app(database, idempotency=True)
    assert getattr(app.state, IDEMPOTENCY_STATE_KEY) is True


@pytest.mark.postgres
async def test_an_exhausted_pool_answers_quickly_and_recovers(database):
    async with UnitOfWork(database) as uow:
        repo = uow.repository(AsyncRepository[Product])
        first = await repo.create(sku="held-1", name="a", price=1)
        second = await repo.create(sku="held-2", name="b", price=1)
    small = Database(database.url, pool_size=2, max_overflow=0, pool_timeout=1)
    app = build_app(small)
    holding = asyncio.Event()
    held: list[int] = []

    async def hold_row_lock(product_id: int) -> None:
        async with UnitOfWork(small) as uow:
            await uow.repository(AsyncRepository[Product]).select_for_update(product_id)
            held.append(product_id)
            if len(held) == 2:
                holding.set()
            await asyncio.sleep(5)

    async def timed(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
        started = time.perf_counter()
        response = await client.get(path)
        return response, time.perf_counter() - started

    try:
        holders = [asyncio.create_task(hold_row_lock(p.id)) for p in (first, second)]
        await asyncio.wait_for(holding.wait(), 5)
        async with client_for(app) as client:
            requests = [
                asyncio.create_task(timed(client, f"/products/{first.id}")) for _ in range(40)
            ]
            await asyncio.sleep(0.2)  # the requests are queued on the pool now
            ready, ready_took = await timed(client, "/health/db")
            live, live_took = await timed(client, "/health/live")
            metrics = (await client.get("/health/db/metrics")).json()
            answered = await asyncio.gather(*requests)
            await asyncio.gather(*holders)
            assert small.pool_status()["checked_out"] == 0
            after, _ = await timed(client, f"/products/{first.id}")
            ready_after = await client.get("/health/db")
            metrics_after = (await client.get("/health/db/metrics")).json()
    finally:
        await small.dispose()
    assert ready.json()["status"] == "saturated" and ready.status_code == 200
    assert ready_took < 0.5
    assert live.status_code == 200 and live_took < 0.5
    assert metrics["saturated"] is True and metrics["checked_out"] == 2
    assert all(took < 5 + 1 + 1 for _, took in answered)
    statuses = [response.status_code for response, _ in answered]
    assert statuses == [503] * 40  # the pool timeout (1 s) expired long before the locks (5 s)
    assert {response.json()["error"] for response, _ in answered} == {"DatabaseUnavailableError"}
    assert after.status_code == 200 and after.json()["sku"] == "held-1"
    assert ready_after.json()["status"] == "healthy"
    assert metrics_after["checked_out"] == 0 and metrics_after["saturated"] is False
    assert metrics_after["checkout_timeouts"] >= 40 and metrics_after["checkout_waits"] >= 40
    assert_no_url_parts(database.url, [ready, live, ready_after])
