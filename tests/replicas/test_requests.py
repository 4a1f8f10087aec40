"""A request reads its own writes, wherever in the request the commit happened.

Replay is paused on the standby: a read that finds the row came from the primary; a
later request, with no commit of its own, reads the replica and does not find it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anyio.from_thread
import httpx
import pytest
from dependency_injector import providers
from fastapi import Depends, FastAPI

from orm_core import Database
from orm_fastapi import OrmContainer, setup_orm
from tests.replicas.support import look, unique, write_item

pytestmark = pytest.mark.postgres


def make_app(db: Database) -> FastAPI:
    app = FastAPI()

    async def seen(name: str) -> dict[str, Any]:
        found, replica = await look(db, name)
        return {"found": found, "replica": replica}

    @app.post("/spawned/{name}")
    async def commit_in_a_spawned_task(name: str) -> dict[str, Any]:
        await asyncio.create_task(write_item(db, name))
        return await seen(name)

    def write_from_threadpool(name: str) -> None:
        # a sync dependency runs in the threadpool and calls back into the event loop
        anyio.from_thread.run(write_item, db, name)

    @app.post("/sync-dependency/{name}", dependencies=[Depends(write_from_threadpool)])
    async def commit_in_a_sync_dependency(name: str) -> dict[str, Any]:
        return await seen(name)

    async def write_then_yield(name: str) -> AsyncIterator[None]:
        await write_item(db, name)
        yield

    @app.post("/yield-dependency/{name}", dependencies=[Depends(write_then_yield)])
    async def commit_in_a_yield_dependency(name: str) -> dict[str, Any]:
        return await seen(name)

    @app.post("/threadpool/{name}")
    def threadpool_endpoint(name: str) -> dict[str, Any]:
        anyio.from_thread.run(write_item, db, name)
        return anyio.from_thread.run(seen, name)

    @app.get("/seen/{name}")
    async def read_only(name: str) -> dict[str, Any]:
        return await seen(name)

    container = OrmContainer()
    container.database.override(providers.Object(db))
    setup_orm(app, container)
    return app


@pytest.fixture
async def client(replicated) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(replicated))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.mark.parametrize("route", ["spawned", "sync-dependency", "yield-dependency", "threadpool"])
async def test_a_request_reads_the_write_it_committed(client, standby, route):
    await standby.value("SELECT pg_wal_replay_pause()")
    name = unique(route)
    for _ in range(5):
        response = await client.post(f"/{route}/{unique(route)}")
        assert response.status_code == 200, response.text
        assert response.json() == {"found": True, "replica": None}
    response = await client.post(f"/{route}/{name}")
    assert response.json() == {"found": True, "replica": None}
    # another request holds no position: it reads the paused replica, without the row
    response = await client.get(f"/seen/{name}")
    assert response.json() == {"found": False, "replica": 0}
