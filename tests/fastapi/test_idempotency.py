"""`Idempotency-Key` on `crud_router` routes: one write per key, the first answer on retries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from functools import partial

import httpx
import pytest
from dependency_injector import providers
from fastapi import BackgroundTasks, Depends, FastAPI, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select, update

from orm_core import (
    Database,
    IdempotencyRecord,
    TransactionConflictError,
    UnitOfWork,
    utcnow,
)
from orm_fastapi import IdempotencyMiddleware, crud_router, idempotent, setup_orm
from orm_repositories import AsyncRepository
from tests.fastapi.conftest import (
    AccountIn,
    AccountOut,
    AccountPatch,
    ProductIn,
    ProductOut,
    ProductPatch,
    client_for,
)
from tests.fastapi.conftest import TestContainer as Container
from tests.models import Account, Product

TEA = {"sku": "TEA-1", "name": "Tea", "price": "4.50", "stock": 10}


def idempotent_app(
    database: Database, *, idempotency: bool = True, ttl: timedelta | None = None
) -> FastAPI:
    """Products and (versioned) accounts through `crud_router`, idempotency keys on or off."""
    container = Container()
    container.database.override(providers.Object(database))
    app = FastAPI()
    if ttl is not None:  # the middleware of one's own, added before setup_orm
        app.add_middleware(IdempotencyMiddleware, ttl=ttl)
    setup_orm(app, container, idempotency=idempotency)
    for repository, schemas, prefix in (
        (AsyncRepository[Product], (ProductOut, ProductIn, ProductPatch), "/products"),
        (AsyncRepository[Account], (AccountOut, AccountIn, AccountPatch), "/accounts"),
    ):
        read, create, patch = schemas
        app.include_router(
            crud_router(
                repository,
                unit_of_work=container.unit_of_work,
                read_schema=read,
                create_schema=create,
                update_schema=patch,
                prefix=prefix,
            )
        )
    return app


@pytest.fixture
async def client(database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(idempotent_app(database)) as http:
        yield http
    assert database.pool_status()["checked_out"] == 0


async def count(database: Database, table: str) -> int:
    row = await database.fetch_one(f"SELECT count(*) AS n FROM {table}")
    assert row is not None
    return int(row["n"])


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def test_fifty_concurrent_posts_with_one_key_create_one_row_and_fifty_equal_answers(
    database, client
):
    responses = await asyncio.gather(
        *(client.post("/products", json=TEA, headers=keyed("k-50")) for _ in range(50))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert len({r.headers["location"] for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 49
    assert await count(database, "products") == 1
    assert await count(database, "orm_idempotency_keys") == 1


async def test_a_repeated_key_answers_the_first_answer_and_writes_nothing(database, client):
    first = await client.post("/products", json=TEA, headers=keyed("k-1"))
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    before = await database.fetch_all("SELECT * FROM products")
    again = await client.post("/products", json=TEA, headers=keyed("k-1"))
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == first.headers["content-type"]
    assert await database.fetch_all("SELECT * FROM products") == before
    # without the key the same body is a second write, refused by the unique SKU
    assert (await client.post("/products", json=TEA)).status_code == 409


async def test_the_same_key_with_another_body_is_a_422(database, client):
    assert (await client.post("/products", json=TEA, headers=keyed("k-2"))).status_code == 201
    other = await client.post("/products", json={**TEA, "sku": "TEA-2"}, headers=keyed("k-2"))
    assert other.status_code == 422
    assert other.json()["error"] == "InvalidQueryError"
    assert await count(database, "products") == 1
    # the same JSON written differently is the same request
    spaced = '{"stock": 10, "price": "4.50", "name": "Tea", "sku": "TEA-1"}'
    headers = {**keyed("k-2"), "content-type": "application/json"}
    same = await client.post("/products", content=spaced, headers=headers)
    assert same.status_code == 201 and same.headers["idempotent-replayed"] == "true"


async def test_a_failed_request_frees_its_key(database, client):
    taken = await client.post("/products", json=TEA)
    failed = await client.post("/products", json=TEA, headers=keyed("k-3"))
    assert failed.status_code == 409
    assert await count(database, "orm_idempotency_keys") == 0
    assert (await client.delete(f"/products/{taken.json()['id']}")).status_code == 204
    retried = await client.post("/products", json=TEA, headers=keyed("k-3"))
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    assert await count(database, "orm_idempotency_keys") == 1


async def test_keys_are_scoped_by_method_and_path(database, client):
    product = await client.post("/products", json=TEA, headers=keyed("shared"))
    account = await client.post("/accounts", json={"owner": "ann"}, headers=keyed("shared"))
    assert account.status_code == 201 and "idempotent-replayed" not in account.headers
    other = await client.post("/products", json={**TEA, "sku": "TEA-2"})
    patched = [
        await client.patch(f"/products/{ident}", json={"stock": 3}, headers=keyed("shared"))
        for ident in (product.json()["id"], other.json()["id"])
    ]
    assert [p.status_code for p in patched] == [200, 200]
    assert not any("idempotent-replayed" in p.headers for p in patched)
    assert await count(database, "orm_idempotency_keys") == 4


async def test_an_expired_key_is_purged_and_the_request_runs_again(database, client):
    first = await client.post("/products", json=TEA, headers=keyed("k-4"))
    await client.delete(f"/products/{first.json()['id']}")
    async with UnitOfWork(database) as uow:
        record = (await uow.session.execute(select(IdempotencyRecord))).scalar_one()
        assert record.expires_at - record.created_at == timedelta(hours=24)
        assert (record.method, record.path, record.key) == ("POST", "/products", "k-4")
        past = utcnow() - timedelta(seconds=1)
        await uow.session.execute(update(IdempotencyRecord).values(expires_at=past))
    again = await client.post("/products", json=TEA, headers=keyed("k-4"))
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert await count(database, "products") == 1  # written again: the first was deleted
    assert await count(database, "orm_idempotency_keys") == 1


async def test_keys_kept_longer_with_a_middleware_of_ones_own(database):
    async with client_for(idempotent_app(database, idempotency=False, ttl=timedelta(7))) as client:
        first = await client.post("/products", json=TEA, headers=keyed("k-9"))
        again = await client.post("/products", json=TEA, headers=keyed("k-9"))
        assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    async with UnitOfWork(database, read_only=True) as uow:
        record = (await uow.session.execute(select(IdempotencyRecord))).scalar_one()
    assert record.expires_at - record.created_at == timedelta(days=7)


async def test_location_and_etag_are_replayed(client):
    first = await client.post("/accounts", json={"owner": "ann"}, headers=keyed("k-5"))
    assert first.headers["etag"] == '"1"'
    again = await client.post("/accounts", json={"owner": "ann"}, headers=keyed("k-5"))
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]


async def test_a_key_longer_than_255_characters_is_a_422(database, client):
    assert (await client.post("/products", json=TEA, headers=keyed("k" * 255))).status_code == 201
    too_long = await client.post(
        "/products", json={**TEA, "sku": "TEA-2"}, headers=keyed("k" * 256)
    )
    assert too_long.status_code == 422
    assert too_long.json()["error"] == "InvalidQueryError"
    assert await count(database, "products") == 1


async def test_without_the_header_requests_work_as_before(database, client):
    first = await client.post("/products", json=TEA)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    assert (await client.post("/products", json=TEA)).status_code == 409
    assert (await client.patch(f"/products/{first.json()['id']}", json={"stock": 1})).json()[
        "stock"
    ] == 1
    assert await count(database, "orm_idempotency_keys") == 0


async def test_with_idempotency_off_the_header_is_ignored(database):
    async with client_for(idempotent_app(database, idempotency=False)) as client:
        assert (await client.post("/products", json=TEA, headers=keyed("k-6"))).status_code == 201
        again = await client.post("/products", json=TEA, headers=keyed("k-6"))
        assert again.status_code == 409  # a second attempt, refused by the unique SKU
        long_key = await client.post(
            "/products", json={**TEA, "sku": "TEA-2"}, headers=keyed("k" * 300)
        )
        assert long_key.status_code == 201
    assert await count(database, "orm_idempotency_keys") == 0


async def test_a_patch_with_a_key_is_applied_once(database, client):
    account = (await client.post("/accounts", json={"owner": "ann"})).json()
    path = f"/accounts/{account['id']}"
    first = await client.patch(path, json={"balance": "5"}, headers=keyed("k-7"))
    assert first.json()["version"] == 2
    await client.patch(path, json={"balance": "9"})  # someone else's change
    again = await client.patch(path, json={"balance": "5"}, headers=keyed("k-7"))
    assert again.content == first.content and again.headers["etag"] == '"2"'
    current = (await client.get(path)).json()
    assert (current["balance"], current["version"]) == ("9.00", 3)


async def test_a_delete_with_a_key_answers_its_204_again(database, client):
    product = (await client.post("/products", json=TEA)).json()
    path = f"/products/{product['id']}"
    assert (await client.delete(path, headers=keyed("k-8"))).status_code == 204
    again = await client.delete(path, headers=keyed("k-8"))
    assert again.status_code == 204 and again.headers["idempotent-replayed"] == "true"
    assert (await client.delete(path)).status_code == 404


# -- custom endpoints with the `idempotent` dependency ---------------------------------


def custom_app(database: Database) -> FastAPI:
    """`/custom` writes a product in its own unit of work, then answers as the query asks."""
    app = idempotent_app(database)

    @app.post("/custom", dependencies=[Depends(idempotent)])
    async def custom(body: ProductIn, then: str = "ok") -> Response:
        async with UnitOfWork(database) as uow:
            product = await uow.repository(Product).create(**body.model_dump())
            if then == "callback":
                uow.on_commit(lambda: written.append(product.id))
                uow.on_commit(partial(note_in_new_unit, database))
            if then == "wait":
                entered.set()
                await release.wait()
        if then == "second-unit":
            async with UnitOfWork(database) as uow:
                await uow.repository(Product).create(**{**body.model_dump(), "sku": "X"})
        if then == "raise":
            raise RuntimeError("failed after the work")
        status = 400 if then == "refuse" else 201
        return JSONResponse({"id": product.id}, status_code=status)

    @app.post("/later", dependencies=[Depends(idempotent)])
    async def later(body: ProductIn, tasks: BackgroundTasks) -> Response:
        tasks.add_task(create_later, database, body)  # writes after the answer
        return JSONResponse({"queued": True}, status_code=202)

    @app.post("/unkeyed")
    async def unkeyed(body: ProductIn) -> Response:
        async with UnitOfWork(database) as uow:
            product = await uow.repository(Product).create(**body.model_dump())
        return JSONResponse({"id": product.id}, status_code=201)

    return app


written: list[int] = []
entered, release = asyncio.Event(), asyncio.Event()


async def note_in_new_unit(database: Database) -> None:
    async with UnitOfWork(database) as uow:
        await uow.repository(Product).create(sku="NOTE", name="n", price=Decimal(1))


async def create_later(database: Database, body: ProductIn) -> None:
    async with UnitOfWork(database) as uow:
        await uow.repository(Product).create(**body.model_dump())


@pytest.fixture
async def custom(database: Database) -> AsyncIterator[httpx.AsyncClient]:
    global entered, release  # events of this test's loop
    entered, release = asyncio.Event(), asyncio.Event()
    async with client_for(custom_app(database), raise_app_exceptions=False) as http:
        yield http
    assert database.pool_status()["checked_out"] == 0


async def test_a_custom_endpoint_opts_in_with_the_idempotent_dependency(database, custom):
    first = await custom.post("/custom", json=TEA, headers=keyed("c-1"))
    again = await custom.post("/custom", json=TEA, headers=keyed("c-1"))
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    assert await count(database, "products") == 1
    # a route without the dependency ignores the header: the retry writes again
    other = {**TEA, "sku": "TEA-2"}
    assert (await custom.post("/unkeyed", json=other, headers=keyed("c-2"))).status_code == 201
    assert (await custom.post("/unkeyed", json=other, headers=keyed("c-2"))).status_code == 409


async def test_the_answer_is_sent_only_after_its_commit(database, custom, monkeypatch):
    async def failing_commit(self: UnitOfWork) -> None:
        raise TransactionConflictError("could not serialize access")

    monkeypatch.setattr(UnitOfWork, "commit", failing_commit)
    failed = await custom.post("/custom", json=TEA, headers=keyed("c-3"))
    assert failed.status_code == 409
    assert failed.json()["error"] == "TransactionConflictError"
    monkeypatch.undo()
    assert await count(database, "products") == 0
    retried = await custom.post("/custom", json=TEA, headers=keyed("c-3"))
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers


async def test_an_error_after_the_work_rolls_the_work_back(database, custom):
    failed = await custom.post("/custom?then=raise", json=TEA, headers=keyed("c-4"))
    assert failed.status_code == 500
    assert await count(database, "products") == 0
    assert await count(database, "orm_idempotency_keys") == 0


async def test_an_error_answer_rolls_the_work_back_and_frees_the_key(database, custom):
    refused = await custom.post("/custom?then=refuse", json=TEA, headers=keyed("c-5"))
    assert refused.status_code == 400
    assert await count(database, "products") == 0
    assert await count(database, "orm_idempotency_keys") == 0
    # without a key the work of a refused request stays, as the endpoint committed it
    assert (await custom.post("/custom?then=refuse", json=TEA)).status_code == 400
    assert await count(database, "products") == 1


async def test_a_second_writing_unit_in_an_idempotent_request_is_refused(database, custom):
    refused = await custom.post("/custom?then=second-unit", json=TEA, headers=keyed("c-6"))
    assert refused.status_code == 500  # a TransactionError: a bug of the endpoint
    assert await count(database, "products") == 0
    # without a key the same endpoint works
    assert (await custom.post("/custom?then=second-unit", json=TEA)).status_code == 201


async def test_units_of_work_after_the_answer_claim_nothing(database, custom):
    written.clear()
    answer = await custom.post("/custom?then=callback", json=TEA, headers=keyed("c-7"))
    assert answer.status_code == 201 and written == [answer.json()["id"]]
    assert await count(database, "products") == 2  # the callback's own unit committed
    assert await count(database, "orm_idempotency_keys") == 1


async def test_a_request_whose_key_is_in_flight_waits_and_gets_the_first_answer(database, custom):
    first = asyncio.create_task(custom.post("/custom?then=wait", json=TEA, headers=keyed("c-8")))
    await asyncio.wait_for(entered.wait(), 5)  # the first holds the key, its work undone
    second = asyncio.create_task(custom.post("/custom?then=wait", json=TEA, headers=keyed("c-8")))
    await asyncio.sleep(0.3)
    assert not second.done()  # waiting for the first, not answered with a 409
    release.set()
    answers = await asyncio.gather(first, second)
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[1].content == answers[0].content
    assert answers[1].headers["idempotent-replayed"] == "true"
    assert await count(database, "products") == 1


def test_the_header_is_documented_on_the_write_routes_only(database):
    paths = idempotent_app(database).openapi()["paths"]

    def documented(path: str, method: str) -> bool:
        names = {p["name"] for p in paths[path][method].get("parameters", [])}
        return "Idempotency-Key" in names

    assert documented("/products", "post")
    assert documented("/products/{item_id}", "patch")
    assert documented("/products/{item_id}", "delete")
    assert not documented("/products", "get") and not documented("/products/{item_id}", "get")
    [header] = [
        p for p in paths["/products"]["post"]["parameters"] if p["name"] == "Idempotency-Key"
    ]
    assert (header["schema"]["minLength"], header["schema"]["maxLength"]) == (1, 255)


async def test_a_background_task_after_the_answer_claims_nothing(database, custom):
    queued = await custom.post("/later", json=TEA, headers=keyed("c-9"))
    assert queued.status_code == 202
    assert await count(database, "products") == 1  # the task's work committed
    assert await count(database, "orm_idempotency_keys") == 0
