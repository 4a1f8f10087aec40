"""A replica that stops, is promoted or never answers: reads go on from the primary."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text

from orm_core import DatabaseUnavailableError, UnitOfWork
from orm_repositories import AsyncRepository
from tests.replicas.cluster import free_port, wait_replayed, wait_streaming
from tests.replicas.conftest import BACKOFF
from tests.replicas.models import Item
from tests.replicas.support import look, server_port, unique, write_item

pytestmark = pytest.mark.postgres


async def test_a_stopped_replica_is_skipped_and_used_again_after_the_backoff(
    make_db, primary, extra_standby
):
    standby = extra_standby()
    db = make_db(primary, standby)
    name = unique()
    await write_item(db, name)
    await wait_replayed(primary, standby)
    assert await look(db, name) == (True, 0)

    standby.stop("immediate")
    started = time.monotonic()
    served = [await look(db, name) for _ in range(20)]
    assert served == [(True, None)] * 20  # no error reaches the caller
    assert time.monotonic() - started < 5
    report = await db.health_check()
    assert report["status"] == "healthy"
    assert report["replicas"] == [{"index": 0, "status": "unhealthy", "lag_seconds": None}]

    standby.start()
    await wait_streaming(standby)
    await asyncio.sleep(BACKOFF)
    assert await look(db, name) == (True, 0)
    assert (await db.health_check())["replicas"][0]["status"] == "healthy"


async def test_a_replica_set_aside_is_not_tried_again_before_the_backoff_ends(
    make_db, primary, extra_standby
):
    standby = extra_standby()
    db = make_db(primary, standby, replica_backoff=60)
    standby.stop("immediate")
    assert (await look(db, unique()))[1] is None
    standby.start()
    await wait_streaming(standby)
    # back up, but set aside for a minute
    assert [(await look(db, unique()))[1] for _ in range(5)] == [None] * 5
    assert (await db.health_check())["replicas"][0]["status"] == "healthy"


async def test_losing_the_replica_inside_a_read_only_unit_is_a_database_unavailable_error(
    make_db, primary, extra_standby
):
    standby = extra_standby()
    db = make_db(primary, standby)
    with pytest.raises(DatabaseUnavailableError):
        async with UnitOfWork(db, read_only=True) as uow:
            repo = uow.repository(AsyncRepository[Item])
            await repo.count()
            assert uow.replica_index == 0
            standby.stop("immediate")
            await repo.count()
    # the caller's own SQL fails the same way
    standby.start()
    await wait_streaming(standby)
    await asyncio.sleep(BACKOFF)
    with pytest.raises(DatabaseUnavailableError):
        async with UnitOfWork(db, read_only=True) as uow:
            assert uow.replica_index == 0
            standby.stop("immediate")
            await uow.session.execute(text("SELECT 1"))
    # the replica was set aside: the next unit reads the primary, without error
    async with UnitOfWork(db, read_only=True) as uow:
        assert uow.replica_index is None
        assert await server_port(uow) == primary.port


async def test_a_promoted_replica_is_not_used(make_db, primary, extra_standby):
    standby = extra_standby()
    db = make_db(primary, standby)
    assert (await look(db, unique()))[1] == 0
    standby.promote()
    for _ in range(3):
        async with UnitOfWork(db, read_only=True) as uow:
            assert uow.replica_index is None
            assert await server_port(uow) == primary.port
        await asyncio.sleep(BACKOFF)  # a promoted replica stays out after its backoff too
    report = await db.health_check()
    assert report["replicas"] == [{"index": 0, "status": "promoted", "lag_seconds": None}]


@pytest.mark.parametrize("where", ["refused", "unknown database"])
async def test_an_unreachable_replica_is_never_used(make_db, primary, standby, where):
    url = (
        f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/postgres"
        if where == "refused"
        else standby.url.replace("/postgres", "/no_such_database")
    )
    db = make_db(primary, url, standby)
    seen = set()
    for _ in range(6):
        async with UnitOfWork(db, read_only=True) as uow:
            seen.add(uow.replica_index)
            assert await uow.session.scalar(text("SELECT pg_is_in_recovery()")) is True
    assert seen == {1}
    report = await db.health_check()
    assert [r["status"] for r in report["replicas"]] == ["unhealthy", "healthy"]
