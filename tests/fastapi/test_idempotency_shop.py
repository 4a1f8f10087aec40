"""The example shop's `/transfers` with `Idempotency-Key`: retried transfers move money once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from examples.shop.bootstrap import seed_demo_data
from orm_core import Database
from tests.fastapi.conftest import client_for, shop_app_for

BOB_TO_ALICE = {"source_id": 2, "target_id": 1, "amount": "20.00"}  # bob 50, alice 100


async def balances(database: Database) -> dict[str, str]:
    rows = await database.fetch_all("SELECT owner, balance FROM accounts ORDER BY owner")
    return {row["owner"]: f"{row['balance']:.2f}" for row in rows}


async def test_a_repeated_transfer_answers_the_first_answer_and_moves_nothing(shop_database):
    await seed_demo_data(shop_database)
    async with client_for(shop_app_for(shop_database)) as client:
        headers = {"Idempotency-Key": "transfer-1"}
        first = await client.post("/transfers", json=BOB_TO_ALICE, headers=headers)
        assert first.status_code == 200
        again = [await client.post("/transfers", json=BOB_TO_ALICE, headers=headers)]
        again += await asyncio.gather(
            *(client.post("/transfers", json=BOB_TO_ALICE, headers=headers) for _ in range(5))
        )
        assert {(r.status_code, r.content) for r in again} == {(200, first.content)}
        assert all(r.headers["idempotent-replayed"] == "true" for r in again)
        other = await client.post(
            "/transfers", json={**BOB_TO_ALICE, "amount": "1.00"}, headers=headers
        )
        assert other.status_code == 422
    assert await balances(shop_database) == {"alice": "120.00", "bob": "30.00"}


async def test_a_refused_transfer_frees_its_key(shop_database):
    await seed_demo_data(shop_database)
    too_much = {**BOB_TO_ALICE, "amount": "80.00"}
    headers = {"Idempotency-Key": "transfer-2"}
    async with client_for(shop_app_for(shop_database)) as client:
        refused = await client.post("/transfers", json=too_much, headers=headers)
        assert refused.status_code == 409
        await client.post("/transfers", json={**BOB_TO_ALICE, "source_id": 1, "target_id": 2,
                                               "amount": "40.00"})  # fmt: skip
        retried = await client.post("/transfers", json=too_much, headers=headers)
        assert retried.status_code == 200 and "idempotent-replayed" not in retried.headers
    assert await balances(shop_database) == {"alice": "140.00", "bob": "10.00"}


async def test_a_key_of_one_tenant_never_answers_another_tenant(shop_database):
    product = {"sku": "TEA-001", "name": "Green tea", "price": "4.50", "stock": 10}
    async with client_for(shop_app_for(shop_database, tenant_header=True)) as client:
        answers = [
            await client.post(
                "/products", json=product, headers={"X-Tenant": name, "Idempotency-Key": "k"}
            )
            for name in ("acme", "globex", "acme")
        ]
        assert [a.status_code for a in answers] == [201, 201, 201]
        assert [a.headers.get("idempotent-replayed") for a in answers] == [None, None, "true"]
        assert answers[2].content == answers[0].content
        listed = await client.get("/products", headers={"X-Tenant": "globex"})
        assert [p["id"] for p in listed.json()["items"]] == [answers[1].json()["id"]]


async def test_a_key_of_one_user_never_answers_another_user(shop_database):
    await seed_demo_data(shop_database, "acme")
    async with client_for(shop_app_for(shop_database, tenant_header=True)) as client:
        answers = [
            await client.post(
                "/transfers",
                json=BOB_TO_ALICE,
                headers={"X-Tenant": "acme", "X-User": user, "Idempotency-Key": "k"},
            )
            for user in ("ann", "cid", "ann")
        ]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert [a.headers.get("idempotent-replayed") for a in answers] == [None, None, "true"]
        assert answers[1].json()["source"]["balance"] == "10.00"  # cid's moved money too


@asynccontextmanager
async def served(database: Database) -> AsyncIterator[str]:
    """The shop under uvicorn on a free port, which runs a handler on when its client leaves."""
    config = uvicorn.Config(
        shop_app_for(database), host="127.0.0.1", port=0, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def time_out_then_retry(database: Database, headers: dict[str, str]) -> httpx.Response:
    """POST a transfer that waits on a row lock until its client gives up, then retry it.

    The retry is sent while the abandoned request still waits, and the lock is released
    once the retry is on its way: both are in flight together.
    """
    async with served(database) as url, database.engine.connect() as blocker:
        await blocker.execute(text("SELECT id FROM accounts WHERE id IN (1, 2) FOR UPDATE"))
        async with httpx.AsyncClient(base_url=url, timeout=0.5) as impatient:
            with pytest.raises(httpx.ReadTimeout):
                await impatient.post("/transfers", json=BOB_TO_ALICE, headers=headers)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            retry = asyncio.create_task(
                client.post("/transfers", json=BOB_TO_ALICE, headers=headers)
            )
            await asyncio.sleep(0.5)
            assert not retry.done()  # waiting behind the abandoned request
            await blocker.rollback()
            response = await retry
            # the abandoned request ran to its end although its client had gone
            for _ in range(100):
                row = await database.fetch_one(
                    "SELECT count(*) AS n FROM pg_stat_activity"
                    " WHERE datname = :db AND wait_event_type = 'Lock'",
                    {"db": database.url.database},
                )
                if row == {"n": 0}:
                    break
                await asyncio.sleep(0.05)
            return response


@pytest.mark.postgres
async def test_without_a_key_a_client_that_times_out_and_retries_moves_the_money_twice(
    shop_database,
):
    await seed_demo_data(shop_database)
    response = await time_out_then_retry(shop_database, {})
    assert response.status_code == 200
    assert await balances(shop_database) == {"alice": "140.00", "bob": "10.00"}


@pytest.mark.postgres
async def test_with_a_key_a_client_that_times_out_and_retries_moves_the_money_once(
    shop_database,
):
    await seed_demo_data(shop_database)
    response = await time_out_then_retry(shop_database, {"Idempotency-Key": "abandoned"})
    assert response.status_code == 200
    assert response.headers["idempotent-replayed"] == "true"
    body = response.json()
    assert (body["source"]["balance"], body["target"]["balance"]) == ("30.00", "120.00")
    assert await balances(shop_database) == {"alice": "120.00", "bob": "30.00"}


async def test_fifty_concurrent_transfers_with_one_key_over_http_move_the_money_once(
    shop_database,
):
    await seed_demo_data(shop_database)
    headers = {"Idempotency-Key": "transfer-50"}
    async with served(shop_database) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        answers = await asyncio.gather(
            *(client.post("/transfers", json=BOB_TO_ALICE, headers=headers) for _ in range(50))
        )
    assert {(a.status_code, a.content) for a in answers} == {(200, answers[0].content)}
    assert sum("idempotent-replayed" in a.headers for a in answers) == 49
    assert await balances(shop_database) == {"alice": "120.00", "bob": "30.00"}
    row = await shop_database.fetch_one("SELECT count(*) AS n FROM orm_idempotency_keys")
    assert row == {"n": 1}
