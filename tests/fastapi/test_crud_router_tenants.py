"""`crud_router` with a unit-of-work dependency: the tenant and actor come from the request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI, Header
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from orm_core import ALL_TENANTS, AuditLog, Database, UnitOfWork
from orm_fastapi import OrmContainer, crud_router, setup_orm
from tests.fastapi.conftest import client_for
from tests.models import Ledger, TenantItem


class ItemIn(BaseModel):
    sku: str
    name: str


class ItemOut(ItemIn):
    model_config = ConfigDict(from_attributes=True)

    id: int
    tenant_id: str


class ItemPatch(BaseModel):
    name: str | None = None


class LedgerIn(BaseModel):
    owner: str


class LedgerOut(LedgerIn):
    model_config = ConfigDict(from_attributes=True)

    id: int


def tenant_app(database: Database) -> FastAPI:
    def unit_of_work(
        x_tenant: Annotated[str, Header()], x_user: Annotated[str | None, Header()] = None
    ) -> UnitOfWork:
        return UnitOfWork(database, tenant=x_tenant, actor=x_user)

    app = FastAPI()
    container = OrmContainer()
    container.config.database.url.from_value(database.url)
    setup_orm(app, container)
    for model, schemas, prefix, filters in (
        (TenantItem, (ItemOut, ItemIn, ItemPatch), "/items", ["sku"]),
        (Ledger, (LedgerOut, LedgerIn, LedgerIn), "/ledgers", []),
    ):
        read, create, update = schemas
        app.include_router(
            crud_router(
                model, unit_of_work=unit_of_work, read_schema=read, create_schema=create,
                update_schema=update, prefix=prefix, filter_fields=filters,
            )
        )  # fmt: skip
    return app


@pytest.fixture
async def client(database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(tenant_app(database)) as client:
        yield client
    assert database.pool_status()["checked_out"] == 0


def acme(user: str | None = None) -> dict[str, str]:
    return {"X-Tenant": "acme", **({"X-User": user} if user else {})}


async def test_each_request_sees_and_writes_only_its_headers_tenant(client, database):
    made = await client.post("/items", json={"sku": "a", "name": "A"}, headers=acme())
    assert made.status_code == 201 and made.json()["tenant_id"] == "acme"
    other = await client.post("/items", json={"sku": "a", "name": "B"}, headers={"X-Tenant": "b"})
    assert other.status_code == 201  # unique per tenant
    item = made.json()["id"]
    assert (await client.get(f"/items/{item}", headers={"X-Tenant": "b"})).status_code == 404
    patched = await client.patch(f"/items/{item}", json={"name": "x"}, headers={"X-Tenant": "b"})
    assert patched.status_code == 404
    assert (await client.delete(f"/items/{item}", headers={"X-Tenant": "b"})).status_code == 404
    page = (await client.get("/items?sku=a", headers=acme())).json()
    assert [row["name"] for row in page["items"]] == ["A"] and page["total"] == 1
    async with UnitOfWork(database, tenant=ALL_TENANTS) as uow:
        stored = await uow.session.execute(select(TenantItem.tenant_id, TenantItem.name))
        assert sorted(stored.all()) == [("acme", "A"), ("b", "B")]


async def test_a_request_without_the_tenant_header_is_refused_before_any_sql(client):
    for response in (await client.get("/items"), await client.get("/items/1")):
        assert response.status_code == 422
        assert "x-tenant" in response.text


async def test_the_actor_header_reaches_the_audit_trail(client, database):
    made = await client.post("/ledgers", json={"owner": "o"}, headers=acme("carol"))
    assert made.status_code == 201
    async with UnitOfWork(database) as uow:
        [row] = (await uow.session.execute(select(AuditLog))).scalars()
    assert (row.actor, row.tenant, row.action) == ("carol", "acme", "create")


async def test_the_dependencys_headers_are_documented_in_openapi(client):
    schema = (await client.get("/openapi.json")).json()
    params = schema["paths"]["/items"]["get"]["parameters"]
    headers = {p["name"]: p["required"] for p in params if p["in"] == "header"}
    assert headers == {"x-tenant": True, "x-user": False}
