"""The FastAPI contract, exercised as an application following the documentation would."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI, Header
from sqlalchemy import ForeignKey, String, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Mapped, mapped_column

from orm_core import (
    Base,
    CommitUnknownError,
    ConcurrentModificationError,
    ConstraintError,
    DatabaseError,
    DatabaseUnavailableError,
    DuplicateError,
    InvalidQueryError,
    LockNotAvailableError,
    NotFoundError,
    TransactionError,
    UnitOfWork,
    VersionMixin,
    schema_for,
)
from orm_fastapi import OrmContainer, crud_router, health_router, setup_orm
from orm_repositories import AsyncRepository

POSTGRES_URL = os.environ.get(
    "ORM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
UNREACHABLE_URL = "postgresql+asyncpg://app:s3cret-pw@127.0.0.1:1/nowhere"
LIST_KEYS = {"items", "total", "page", "page_size", "total_pages", "has_next", "has_prev"}


class ApiOwner(Base):
    __tablename__ = "contract_api_owners"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class ApiThing(Base):
    __tablename__ = "contract_api_things"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal]
    stock: Mapped[int] = mapped_column(default=0)
    category: Mapped[str | None] = mapped_column(String(50))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("contract_api_owners.id"))


class ApiDoc(VersionMixin, Base):
    __tablename__ = "contract_api_docs"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))


TABLES = [ApiOwner.__table__, ApiThing.__table__, ApiDoc.__table__]


class ApiUnitOfWork(UnitOfWork):
    things: AsyncRepository[ApiThing]
    docs: AsyncRepository[ApiDoc]


class AppContainer(OrmContainer):
    unit_of_work = providers.Factory(ApiUnitOfWork, database=OrmContainer.database)


# -- databases -------------------------------------------------------------------------


def _admin_dsn() -> str:
    return (
        make_url(POSTGRES_URL)
        .set(drivername="postgresql", query={})
        .render_as_string(hide_password=False)
    )


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(_admin_dsn(), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[str | None]:
    """A PostgreSQL database private to this module, dropped afterwards."""
    name = f"contract_api_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception:
        yield None
        return
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, private_postgres: str | None) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
    if private_postgres is None:
        pytest.skip("PostgreSQL unreachable")
    return private_postgres


def make_container(url: str) -> AppContainer:
    container = AppContainer()
    container.config.database.url.from_value(url)
    return container


def make_app(container: Any, unit_of_work: Any = None, **router_options: Any) -> FastAPI:
    app = FastAPI()
    setup_orm(app, container)
    options: dict[str, Any] = {
        "unit_of_work": unit_of_work or container.unit_of_work,
        "read_schema": schema_for(ApiThing),
        "create_schema": schema_for(ApiThing, exclude=("id",)),
        "update_schema": schema_for(ApiThing, optional=True),
        "prefix": "/things",
        "filter_fields": ("price", "category", "sku", "stock"),
        "order_fields": ("price", "name"),
        "max_page_size": 50,
    }
    options.update(router_options)
    app.include_router(crud_router(AsyncRepository[ApiThing], **options))
    app.include_router(
        crud_router(
            AsyncRepository[ApiDoc],
            unit_of_work=container.unit_of_work,
            read_schema=schema_for(ApiDoc),
            create_schema=schema_for(ApiDoc, include=("title",)),
            update_schema=schema_for(ApiDoc, include=("title",), optional=True),
            prefix="/docs",
        )
    )
    return app


@asynccontextmanager
async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
async def container(db_url: str) -> AsyncIterator[AppContainer]:
    made = make_container(db_url)
    database = made.database()
    async with database.engine.begin() as conn:
        await conn.run_sync(lambda c: Base.metadata.create_all(c, tables=TABLES))
    try:
        yield made
    finally:
        if database.dialect == "postgresql":
            names = ", ".join(t.name for t in TABLES)
            async with database.engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        await database.dispose()


@pytest.fixture
async def client(container: AppContainer) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(make_app(container)) as made:
        yield made


THINGS = [
    {"sku": "A-1", "name": "anvil", "price": "5.00", "stock": 1, "category": "tools"},
    {"sku": "B-2", "name": "bolt", "price": "15.00", "stock": 2, "category": "parts"},
    {"sku": "C-3", "name": "crane", "price": "25.00", "stock": 3, "category": None},
    {"sku": "D-4", "name": "drill", "price": "35.00", "stock": 4, "category": "tools"},
]


async def seed(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    made = []
    for thing in THINGS:
        response = await client.post("/things", json=thing)
        assert response.status_code == 201, response.text
        made.append(response.json())
    return made


def skus(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["sku"] for item in response.json()["items"]]


# -- list ------------------------------------------------------------------------------


async def test_list_answers_exactly_the_page_keys(client: httpx.AsyncClient) -> None:
    await seed(client)
    response = await client.get("/things", params={"page": 2, "page_size": 3})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == LIST_KEYS
    assert body["total"] == 4 and body["page"] == 2 and body["page_size"] == 3
    assert body["total_pages"] == 2 and body["has_prev"] is True and body["has_next"] is False
    assert len(body["items"]) == 1


async def test_an_empty_list_has_zero_pages(client: httpx.AsyncClient) -> None:
    body = (await client.get("/things")).json()
    assert body["items"] == [] and body["total"] == 0 and body["total_pages"] == 0
    assert body["has_next"] is False and body["has_prev"] is False


async def test_list_filters_by_equality_and_by_operator(client: httpx.AsyncClient) -> None:
    await seed(client)
    assert sorted(skus(await client.get("/things?category=tools"))) == ["A-1", "D-4"]
    assert sorted(skus(await client.get("/things?price__gt=10&price__lte=25"))) == ["B-2", "C-3"]
    assert skus(await client.get("/things?sku__startswith=C")) == ["C-3"]


async def test_in_and_not_in_take_comma_separated_values(client: httpx.AsyncClient) -> None:
    await seed(client)
    assert sorted(skus(await client.get("/things?stock__in=1,3"))) == ["A-1", "C-3"]
    assert sorted(skus(await client.get("/things?sku__not_in=A-1,B-2"))) == ["C-3", "D-4"]


async def test_between_takes_low_and_high(client: httpx.AsyncClient) -> None:
    await seed(client)
    assert sorted(skus(await client.get("/things?price__between=15,25"))) == ["B-2", "C-3"]
    response = await client.get("/things?price__between=15")
    assert response.status_code == 422


async def test_order_by_minus_price_sorts_descending(client: httpx.AsyncClient) -> None:
    await seed(client)
    assert skus(await client.get("/things?order_by=-price")) == ["D-4", "C-3", "B-2", "A-1"]
    assert skus(await client.get("/things?order_by=price")) == ["A-1", "B-2", "C-3", "D-4"]


async def test_filter_combined_with_order_and_pagination(client: httpx.AsyncClient) -> None:
    await seed(client)
    response = await client.get("/things?price__gt=10&order_by=-price&page=2&page_size=1")
    assert skus(response) == ["C-3"]
    assert response.json()["total"] == 3 and response.json()["has_next"] is True


async def test_a_filter_outside_the_whitelist_is_a_422(client: httpx.AsyncClient) -> None:
    await seed(client)
    response = await client.get("/things?name=anvil")
    assert response.status_code == 422
    assert response.json()["error"] == "InvalidQueryError"
    assert set(response.json()) == {"detail", "error"}
    assert (await client.get("/things?name__contains=a")).status_code == 422


async def test_an_order_field_outside_the_whitelist_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/things?order_by=-stock")
    assert response.status_code == 422
    assert response.json() == {"detail": response.json()["detail"], "error": "InvalidQueryError"}


async def test_a_page_size_over_the_maximum_is_a_422(client: httpx.AsyncClient) -> None:
    assert (await client.get("/things?page_size=50")).status_code == 200
    for query in ("page_size=51", "page_size=0", "page=0"):
        response = await client.get(f"/things?{query}")
        assert response.status_code == 422, query
        assert response.json() == {
            "detail": response.json()["detail"],
            "error": "InvalidQueryError",
        }


async def test_query_values_are_converted_and_a_bad_value_is_a_422(
    client: httpx.AsyncClient,
) -> None:
    await seed(client)
    assert skus(await client.get("/things?stock=2")) == ["B-2"]
    for query in ("price__gt=cheap", "stock=two", "stock__in=1,x", "price__between=a,b"):
        response = await client.get(f"/things?{query}")
        assert response.status_code == 422, query
        assert response.json() == {
            "detail": response.json()["detail"],
            "error": "InvalidQueryError",
        }


# -- single items ----------------------------------------------------------------------


async def test_get_answers_200_and_404(client: httpx.AsyncClient) -> None:
    made = await seed(client)
    response = await client.get(f"/things/{made[1]['id']}")
    assert response.status_code == 200
    assert response.json()["sku"] == "B-2" and Decimal(response.json()["price"]) == Decimal(15)
    missing = await client.get("/things/9999")
    assert missing.status_code == 404
    assert missing.json() == {"detail": missing.json()["detail"], "error": "NotFoundError"}
    assert isinstance(missing.json()["detail"], str)


async def test_create_answers_201_with_a_location(client: httpx.AsyncClient) -> None:
    response = await client.post("/things", json=THINGS[0])
    assert response.status_code == 201
    body = response.json()
    assert body["id"] and body["sku"] == "A-1" and body["stock"] == 1
    location = response.headers["location"]
    assert location.endswith(f"/things/{body['id']}")
    assert (await client.get(location)).json() == body


async def test_create_with_an_invalid_body_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/things", json={"sku": "X"})
    assert response.status_code == 422
    assert (await client.get("/things")).json()["total"] == 0


async def test_patch_changes_only_the_given_fields(client: httpx.AsyncClient) -> None:
    made = await seed(client)
    response = await client.patch(f"/things/{made[0]['id']}", json={"price": "7.50"})
    assert response.status_code == 200
    body = response.json()
    assert Decimal(body["price"]) == Decimal("7.50")
    assert body["name"] == "anvil" and body["stock"] == 1 and body["category"] == "tools"
    again = (await client.get(f"/things/{made[0]['id']}")).json()
    assert again == body
    assert (await client.patch("/things/9999", json={"price": "1"})).status_code == 404


async def test_delete_answers_204_then_404(client: httpx.AsyncClient) -> None:
    made = await seed(client)
    response = await client.delete(f"/things/{made[0]['id']}")
    assert response.status_code == 204 and response.content == b""
    assert (await client.get(f"/things/{made[0]['id']}")).status_code == 404
    assert (await client.delete(f"/things/{made[0]['id']}")).status_code == 404
    assert (await client.get("/things")).json()["total"] == 3


async def test_a_duplicate_is_a_409_duplicate_error(client: httpx.AsyncClient) -> None:
    await seed(client)
    response = await client.post("/things", json=THINGS[0])
    assert response.status_code == 409
    assert response.json() == {"detail": response.json()["detail"], "error": "DuplicateError"}
    assert (await client.get("/things")).json()["total"] == 4


async def test_a_foreign_key_violation_is_a_409_constraint_error(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/things", json={**THINGS[0], "owner_id": 424242})
    assert response.status_code == 409
    assert response.json() == {"detail": response.json()["detail"], "error": "ConstraintError"}
    assert "Traceback" not in response.text and "INSERT" not in response.text


# -- versioned models ------------------------------------------------------------------


async def test_versioned_resources_carry_an_etag(client: httpx.AsyncClient) -> None:
    created = await client.post("/docs", json={"title": "draft"})
    assert created.status_code == 201
    doc_id = created.json()["id"]
    tag = created.headers["etag"]
    assert tag == (await client.get(f"/docs/{doc_id}")).headers["etag"]
    patched = await client.patch(
        f"/docs/{doc_id}", json={"title": "final"}, headers={"If-Match": tag}
    )
    assert patched.status_code == 200 and patched.json()["title"] == "final"
    assert patched.headers["etag"] != tag
    assert patched.headers["etag"] == (await client.get(f"/docs/{doc_id}")).headers["etag"]


async def test_a_stale_if_match_on_patch_is_a_412(client: httpx.AsyncClient) -> None:
    created = await client.post("/docs", json={"title": "draft"})
    doc_id, stale = created.json()["id"], created.headers["etag"]
    fresh = await client.patch(f"/docs/{doc_id}", json={"title": "v2"}, headers={"If-Match": stale})
    assert fresh.status_code == 200
    response = await client.patch(
        f"/docs/{doc_id}", json={"title": "lost"}, headers={"If-Match": stale}
    )
    assert response.status_code == 412
    assert response.json() == {
        "detail": response.json()["detail"],
        "error": "ConcurrentModificationError",
    }
    assert (await client.get(f"/docs/{doc_id}")).json()["title"] == "v2"


async def test_unversioned_resources_carry_no_etag(client: httpx.AsyncClient) -> None:
    created = await client.post("/things", json=THINGS[0])
    assert "etag" not in created.headers


# -- error handlers --------------------------------------------------------------------

HANDLED = [
    (NotFoundError, 404),
    (DuplicateError, 409),
    (ConcurrentModificationError, 409),
    (LockNotAvailableError, 409),
    (InvalidQueryError, 422),
    (ConstraintError, 409),
    (DatabaseUnavailableError, 503),
]


def raising_app() -> FastAPI:
    app = FastAPI()
    setup_orm(app, make_container("sqlite+aiosqlite:///:memory:"))
    errors: dict[str, type[Exception]] = {
        cls.__name__: cls
        for cls in [*(c for c, _ in HANDLED), DatabaseError, TransactionError, CommitUnknownError]
    }

    @app.get("/raise/{name}")
    async def raise_error(name: str, if_match: str | None = Header(None)) -> None:
        if name == "RuntimeError":
            raise RuntimeError("SELECT secret FROM users -- boom")
        raise errors[name]("SELECT password FROM users WHERE 1 failed")

    return app


@pytest.mark.parametrize(("error", "status"), HANDLED, ids=lambda v: getattr(v, "__name__", v))
async def test_each_error_maps_to_its_status_and_body(error: type[Exception], status: int) -> None:
    async with client_for(raising_app()) as client:
        response = await client.get(f"/raise/{error.__name__}")
    assert response.status_code == status
    # a 5xx body carries a fixed sentence, never the error's own text (which may hold SQL)
    detail = "SELECT password FROM users WHERE 1 failed" if status < 500 else "retry later"
    assert response.json()["error"] == error.__name__
    assert set(response.json()) == {"detail", "error"}
    assert (detail in response.json()["detail"]) and ("SELECT" not in response.text or status < 500)


async def test_a_concurrent_modification_with_if_match_is_a_412() -> None:
    async with client_for(raising_app()) as client:
        response = await client.get(
            "/raise/ConcurrentModificationError", headers={"If-Match": '"1"'}
        )
    assert response.status_code == 412
    assert response.json()["error"] == "ConcurrentModificationError"
    assert set(response.json()) == {"detail", "error"}


@pytest.mark.parametrize(
    "name", ["DatabaseError", "TransactionError", "CommitUnknownError", "RuntimeError"]
)
async def test_other_errors_leak_neither_traceback_nor_sql(name: str) -> None:
    async with client_for(raising_app()) as client:
        response = await client.get(f"/raise/{name}")
    assert response.status_code == 500
    assert set(response.json()) == {"detail", "error"}
    assert "SELECT" not in response.text and "Traceback" not in response.text


async def test_an_unreachable_database_is_a_503_on_crud_endpoints() -> None:
    container = make_container(UNREACHABLE_URL)
    async with client_for(make_app(container)) as client:
        response = await client.get("/things")
        created = await client.post("/things", json=THINGS[0])
    await container.database().dispose()
    assert response.status_code == 503 and created.status_code == 503
    assert response.json() == {
        "detail": response.json()["detail"],
        "error": "DatabaseUnavailableError",
    }
    assert "s3cret-pw" not in response.text


# -- health and lifespan ---------------------------------------------------------------


async def test_health_answers_200_with_the_health_check(
    client: httpx.AsyncClient, container: AppContainer
) -> None:
    response = await client.get("/health/db")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "response_time_ms", "pool"}  # no URL, host or user
    assert body["status"] == "healthy"
    assert isinstance(body["response_time_ms"], float)


async def test_health_answers_503_when_the_database_is_unreachable() -> None:
    container = make_container(UNREACHABLE_URL)
    app = FastAPI()
    setup_orm(app, container)
    async with client_for(app) as client:
        response = await client.get("/health/db")
    await container.database().dispose()
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    assert "s3cret-pw" not in response.text


def test_health_router_is_public() -> None:
    paths = {getattr(route, "path", None) for route in health_router.routes}
    assert "/health/db" in paths


async def run_lifespan(app: FastAPI, during: Any) -> list[str]:
    """Drive the ASGI lifespan protocol: startup, `during()`, shutdown."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[str] = []
    await inbox.put({"type": "lifespan.startup"})

    async def receive() -> dict[str, Any]:
        return await inbox.get()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])
        if message["type"] == "lifespan.startup.complete":
            await during()
            await inbox.put({"type": "lifespan.shutdown"})

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    return sent


async def test_the_database_is_disposed_on_shutdown(container: AppContainer) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    app = FastAPI(lifespan=lifespan)
    setup_orm(app, container)
    database = container.database()
    disposed: list[bool] = []
    original = database.dispose

    async def spy() -> None:
        disposed.append(True)
        await original()

    database.dispose = spy  # type: ignore[method-assign]

    async def request() -> None:
        async with client_for(app) as client:
            assert (await client.get("/health/db")).status_code == 200
        assert disposed == []

    sent = await run_lifespan(app, request)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert events == ["startup", "shutdown"]
    assert disposed == [True]
    assert database.pool_status()["checked_in"] == 0


# -- unit_of_work ----------------------------------------------------------------------


async def test_unit_of_work_accepts_any_zero_argument_callable(container: AppContainer) -> None:
    database = container.database()
    calls: list[int] = []

    def factory() -> UnitOfWork:
        calls.append(1)
        return ApiUnitOfWork(database)

    async with client_for(make_app(container, unit_of_work=factory)) as client:
        assert (await client.post("/things", json=THINGS[0])).status_code == 201
        assert (await client.get("/things")).json()["total"] == 1
    assert len(calls) == 2


async def test_unit_of_work_accepts_a_plain_unit_of_work_class_factory(
    container: AppContainer,
) -> None:
    database = container.database()
    async with client_for(make_app(container, unit_of_work=lambda: UnitOfWork(database))) as c:
        assert (await c.post("/things", json=THINGS[1])).status_code == 201
        assert skus(await c.get("/things")) == ["B-2"]


async def test_unit_of_work_accepts_the_container_class_provider(
    container: AppContainer,
) -> None:
    async with client_for(make_app(container, unit_of_work=AppContainer.unit_of_work)) as c:
        assert (await c.post("/things", json=THINGS[2])).status_code == 201
        assert skus(await c.get("/things")) == ["C-3"]


async def test_each_request_commits_before_answering(
    client: httpx.AsyncClient, container: AppContainer
) -> None:
    created = (await client.post("/things", json=THINGS[0])).json()
    rows = await container.database().fetch_all(
        "SELECT sku FROM contract_api_things WHERE id = :id", {"id": created["id"]}
    )
    assert rows == [{"sku": "A-1"}]


def test_the_container_reads_every_database_setting() -> None:
    container = AppContainer()
    container.config.database.url.from_value("sqlite+aiosqlite:///:memory:")
    container.config.database.echo.from_value(True)
    container.config.database.pool_timeout.from_value(5.0)
    database = container.database()
    assert database.engine.echo is True
    assert container.database() is database
    pg = AppContainer()
    pg.config.database.url.from_value(UNREACHABLE_URL)
    pg.config.database.pool_size.from_value(3)
    pg.config.database.max_overflow.from_value(2)
    pool_status = pg.database().pool_status()
    assert pool_status["pool_size"] == 3
    assert isinstance(pg.unit_of_work(), ApiUnitOfWork)
