"""Which server a unit of work talks to: read-only units a replica, the others the primary."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from orm_core import MemoryCache, TransactionError, UnitOfWork
from orm_repositories import AsyncRepository
from tests.replicas.cluster import wait_replayed
from tests.replicas.models import Item
from tests.replicas.support import server_port, unique, write_item

pytestmark = pytest.mark.postgres


async def test_read_only_units_read_from_the_replica(replicated, standby):
    async with UnitOfWork(replicated, read_only=True) as uow:
        assert uow.replica_index == 0
        assert await server_port(uow) == standby.port
        assert await uow.session.scalar(text("SELECT pg_is_in_recovery()")) is True


async def test_writers_use_the_primary_and_ignore_replica_and_after(replicated, primary):
    async with UnitOfWork(replicated, replica=True, after="not a token") as uow:
        assert uow.replica_index is None
        assert await server_port(uow) == primary.port
        uow.session.add(Item(name=unique()))
    assert uow.consistency_token is not None


async def test_replica_false_forces_the_primary(replicated, primary):
    async with UnitOfWork(replicated, read_only=True, replica=False) as uow:
        assert uow.replica_index is None
        assert await server_port(uow) == primary.port
        assert await uow.session.scalar(text("SELECT pg_is_in_recovery()")) is False


async def test_serializable_read_only_units_read_from_the_primary(replicated, primary):
    # a hot standby refuses SERIALIZABLE transactions
    async with UnitOfWork(replicated, read_only=True, isolation_level="serializable") as uow:
        assert uow.replica_index is None
        assert await server_port(uow) == primary.port
        level = await uow.session.scalar(text("SHOW transaction_isolation"))
        assert level == "serializable"


async def test_repeatable_read_read_only_units_use_the_replica(replicated, standby):
    async with UnitOfWork(replicated, read_only=True, isolation_level="REPEATABLE READ") as uow:
        assert await server_port(uow) == standby.port
        level = await uow.session.scalar(text("SHOW transaction_isolation"))
        assert level == "repeatable read"
        assert await uow.session.scalar(text("SHOW transaction_read_only")) == "on"


async def test_replicas_take_turns(make_db, primary, standby):
    db = make_db(primary, standby, standby)
    turns = []
    for _ in range(6):
        async with UnitOfWork(db, read_only=True) as uow:
            turns.append(uow.replica_index)
    assert turns in ([0, 1] * 3, [1, 0] * 3)


async def test_repositories_read_on_the_replica_and_cannot_write_there(
    replicated, primary, standby
):
    name = unique()
    await write_item(replicated, name)
    await wait_replayed(primary, standby)
    async with UnitOfWork(replicated, read_only=True) as uow:
        repo = uow.repository(AsyncRepository[Item])
        assert [item.name for item in await repo.list(name=name)] == [name]
        assert await server_port(uow) == standby.port
        with pytest.raises(TransactionError):
            await repo.create(name=unique())


async def test_reads_served_by_a_replica_never_fill_the_cache(make_db, primary, standby):
    db = make_db(primary, standby, cache=MemoryCache())
    name = unique()
    await write_item(db, name)
    await wait_replayed(primary, standby)
    async with UnitOfWork(db, read_only=True) as uow:
        assert uow.replica_index == 0
        items = uow.repository(AsyncRepository[Item]).cached(ttl=60)
        assert [item.name for item in await items.list(name=name)] == [name]
    assert db.cache.stats()["sets"] == 0
    async with UnitOfWork(db, read_only=True, replica=False) as uow:  # the primary fills it
        items = uow.repository(AsyncRepository[Item]).cached(ttl=60)
        assert [item.name for item in await items.list(name=name)] == [name]
    assert db.cache.stats()["sets"] == 1
