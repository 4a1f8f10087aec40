"""Error mapping: every `OrmError` and unexpected failures become clean JSON answers."""

from __future__ import annotations

import logging

import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI

from orm_core import (
    CommitUnknownError,
    ConcurrentModificationError,
    ConstraintError,
    Database,
    DatabaseError,
    DatabaseUnavailableError,
    DuplicateError,
    InvalidQueryError,
    LockNotAvailableError,
    NotFoundError,
    OrmError,
    TransactionConflictError,
    TransactionError,
)
from orm_fastapi import OrmContainer, register_error_handlers, setup_orm

SECRET = "SELECT password FROM users WHERE id = 42"


def raising_app(exc: BaseException) -> FastAPI:
    app = FastAPI()
    register_error_handlers(app)

    @app.get("/boom")
    async def boom():
        raise exc

    @app.post("/boom")
    async def boom_post():
        raise exc

    return app


async def call(app: FastAPI, method: str = "GET", headers: dict | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, "/boom", headers=headers)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFoundError("Product not found", {"model": "Product"}), 404),
        (DuplicateError("a row with the same unique value already exists (sku)"), 409),
        (ConcurrentModificationError("the row was modified"), 409),
        (LockNotAvailableError("the row is locked by another transaction"), 409),
        (InvalidQueryError("unknown field 'colour' for Product"), 422),
        (ConstraintError("an integrity constraint was violated"), 409),
        (TransactionConflictError("the transaction was aborted by a concurrent conflict"), 409),
    ],
)
async def test_mapped_errors_answer_their_status_with_the_message(error, status):
    response = await call(raising_app(error))
    assert response.status_code == status
    assert response.json() == {"detail": error.message, "error": type(error).__name__}


async def test_a_concurrent_modification_is_412_when_the_request_carried_if_match():
    app = raising_app(ConcurrentModificationError("stale"))
    response = await call(app, "POST", headers={"If-Match": '"3"'})
    assert response.status_code == 412
    assert response.json() == {"detail": "stale", "error": "ConcurrentModificationError"}


async def test_an_unavailable_database_asks_the_client_to_retry():
    response = await call(raising_app(DatabaseUnavailableError("down")))
    assert response.headers["retry-after"] == "1"


@pytest.mark.parametrize(
    "error",
    [
        DatabaseError(f"the database operation failed: {SECRET}"),
        TransactionError(f"misuse near {SECRET}"),
        CommitUnknownError(f"lost during COMMIT of {SECRET}"),
        OrmError(SECRET),
    ],
)
async def test_other_orm_errors_are_500_without_their_message(error, caplog):
    with caplog.at_level(logging.ERROR):
        response = await call(raising_app(error))
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == type(error).__name__
    assert SECRET not in response.text and "Traceback" not in response.text
    assert set(body) == {"detail", "error"}
    assert any(SECRET in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


async def test_unexpected_exceptions_are_a_clean_500(caplog):
    with caplog.at_level(logging.ERROR):
        response = await call(raising_app(RuntimeError(f"driver said: {SECRET}")))
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error", "error": "InternalServerError"}
    assert SECRET not in response.text


async def test_a_raw_sqlalchemy_error_escaping_an_endpoint_leaks_nothing(database):
    from sqlalchemy import text

    app = FastAPI()
    register_error_handlers(app)

    @app.get("/boom")
    async def boom():
        async with database.session() as session:
            await session.execute(
                text("SELECT secret_column FROM no_such_table WHERE x = 'hunter2'")
            )

    response = await call(app)
    assert response.status_code == 500
    assert "no_such_table" not in response.text and "hunter2" not in response.text
    assert database.pool_status()["checked_out"] == 0


async def test_a_unit_of_work_error_reaches_the_client_translated(database):
    from orm_core import UnitOfWork
    from tests.models import Product

    app = FastAPI()
    register_error_handlers(app)

    @app.post("/boom")
    async def boom():
        async with UnitOfWork(database) as uow:
            await uow.repository(Product).create(sku="A", name="a", price=1)
        async with UnitOfWork(database) as uow:
            await uow.repository(Product).create(sku="A", name="b", price=1)

    response = await call(app, "POST")
    assert response.status_code == 409
    assert response.json()["error"] == "DuplicateError"
    assert "INSERT" not in response.text


async def test_setup_orm_registers_handlers_and_the_health_router(database):
    container = OrmContainer()
    container.database.override(providers.Object(database))
    app = FastAPI()
    setup_orm(app, container)

    @app.get("/boom")
    async def boom():
        raise NotFoundError("nothing here")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/boom")).status_code == 404
        health = await client.get("/health/db")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "healthy" and "database_url" not in body
    assert body["pool"]["checked_out"] == 0


async def test_the_health_router_answers_503_when_the_database_is_down(tmp_path):
    container = OrmContainer()
    unreachable = Database("postgresql+asyncpg://nobody:secret@127.0.0.1:1/none", pool_timeout=1)
    container.database.override(providers.Object(unreachable))
    app = FastAPI()
    setup_orm(app, container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/health/db")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    assert "secret" not in response.text
    await unreachable.dispose()
