"""Every 5xx body is a fixed sentence for its error class: no driver text, host, port or SQL.

The detail of the failure goes to the log, where the operator reads it.
"""

from __future__ import annotations

import logging
import socket

import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from orm_core import (
    CommitUnknownError,
    Database,
    DatabaseError,
    DatabaseUnavailableError,
    OrmError,
    QueryTimeoutError,
    TransactionError,
    UnitOfWork,
)
from orm_fastapi import OrmContainer, register_error_handlers, setup_orm
from orm_fastapi.handlers import SERVER_ERROR_MESSAGES
from tests.models import Product

SECRET = "host=10.1.2.3 port=6543 SELECT password FROM users"


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def product_app(database: Database) -> FastAPI:
    container = OrmContainer()
    container.database.override(providers.Object(database))
    app = FastAPI()
    setup_orm(app, container)

    @app.get("/count")
    async def count():
        async with UnitOfWork(database) as uow:
            return await uow.repository(Product).count()

    return app


async def get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path)


def assert_fixed_503(response: httpx.Response, *leaks: str) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == {
        "detail": SERVER_ERROR_MESSAGES[DatabaseUnavailableError],
        "error": "DatabaseUnavailableError",
    }
    assert response.headers["retry-after"] == "1"
    for leak in leaks:
        assert leak not in response.text


async def test_a_refused_connection_answers_without_host_or_port(caplog):
    port = closed_port()
    database = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test", pool_timeout=2)
    try:
        with caplog.at_level(logging.WARNING, logger="orm_fastapi"):
            response = await get(product_app(database), "/count")
    finally:
        await database.dispose()
    assert_fixed_503(response, "127.0.0.1", str(port), "Errno", "Connect call")
    # the operator still learns what went wrong
    assert any(str(port) in record.getMessage() for record in caplog.records)


async def test_an_unknown_host_answers_without_the_name():
    database = Database("postgresql+asyncpg://postgres@db-host.invalid:5432/test", pool_timeout=2)
    try:
        response = await get(product_app(database), "/count")
    finally:
        await database.dispose()
    assert_fixed_503(response, "db-host", "invalid", "Name or service")


@pytest.mark.server_session  # PgBouncer reports a failed server login as its own error
@pytest.mark.postgres
@pytest.mark.parametrize("wrong", ["user", "database"])
async def test_a_wrong_role_or_database_is_a_fixed_503_not_a_500(database, wrong, caplog):
    url = make_url(str(database.engine.url.render_as_string(hide_password=False)))
    url = url.set(username="no_such_role_x") if wrong == "user" else url.set(database="no_db_x")
    broken = Database(url.render_as_string(hide_password=False), pool_timeout=2)
    try:
        with caplog.at_level(logging.WARNING, logger="orm_fastapi"):
            response = await get(product_app(broken), "/count")
        health = await get(product_app(broken), "/health/db")
    finally:
        await broken.dispose()
    assert_fixed_503(response, "no_such_role_x", "no_db_x", "127.0.0.1", "5432")
    # the log names the cause the body keeps quiet about
    assert any("no_such_role_x" in r.getMessage() or "no_db_x" in r.getMessage()
               for r in caplog.records)  # fmt: skip
    assert health.status_code == 503
    for leak in ("no_such_role_x", "no_db_x", "127.0.0.1", "5432", "postgres"):
        assert leak not in health.text


def raising_app(exc: BaseException) -> FastAPI:
    app = FastAPI()
    register_error_handlers(app)

    @app.get("/boom")
    async def boom():
        raise exc

    return app


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (DatabaseUnavailableError(f"the database is unavailable: {SECRET}"), 503),
        (QueryTimeoutError(f"timed out running {SECRET}"), 503),
        (CommitUnknownError(f"lost during COMMIT of {SECRET}"), 500),
        (DatabaseError(f"the database operation failed: {SECRET}"), 500),
        (TransactionError(f"misuse near {SECRET}"), 500),
        (OrmError(SECRET), 500),
    ],
)
async def test_every_5xx_body_is_the_fixed_sentence_of_its_class(error, status, caplog):
    with caplog.at_level(logging.WARNING, logger="orm_fastapi"):
        response = await get(raising_app(error), "/boom")
    assert response.status_code == status
    expected = SERVER_ERROR_MESSAGES.get(type(error), SERVER_ERROR_MESSAGES[OrmError])
    assert response.json() == {"detail": expected, "error": type(error).__name__}
    assert "10.1.2.3" not in response.text and "6543" not in response.text
    logged = [r.getMessage() + str(r.exc_info and r.exc_info[1]) for r in caplog.records]
    assert any(SECRET in text for text in logged)


def test_the_fixed_sentences_name_no_detail():
    assert set(SERVER_ERROR_MESSAGES) >= {
        DatabaseUnavailableError, QueryTimeoutError, CommitUnknownError, OrmError
    }  # fmt: skip
    assert len(set(SERVER_ERROR_MESSAGES.values())) == len(SERVER_ERROR_MESSAGES)


async def test_the_unhealthy_readiness_body_is_the_documented_one():
    from orm_fastapi.health import Unready

    database = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/x")
    app = product_app(database)
    try:
        response = await get(app, "/health/db")
        schema = (await get(app, "/openapi.json")).json()
    finally:
        await database.dispose()
    assert response.status_code == 503
    body = Unready.model_validate(response.json())  # the documented model, nothing else
    assert set(response.json()) == set(Unready.model_fields)
    assert body.error == "DatabaseUnavailableError"
    assert body.detail == SERVER_ERROR_MESSAGES[DatabaseUnavailableError]
    documented = schema["paths"]["/health/db"]["get"]["responses"]["503"]
    assert documented["content"]["application/json"]["schema"]["$ref"].endswith("/Unready")
