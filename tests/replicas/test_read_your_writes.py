"""Read-your-writes: after a commit, reads in the same context never see a replica that lags it.

Replay is paused on the standby (`pg_wal_replay_pause()`) so that it cannot have the
commit: a read that finds the row came from the primary, and a read in a context without
the commit's position proves the replica was used by not finding it.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import re
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from sqlalchemy import text

from orm_core import UnitOfWork, consistency_scope
from orm_core.consistency import format_lsn, parse_lsn
from tests.replicas.cluster import Server, wait_replayed
from tests.replicas.models import Item
from tests.replicas.support import look, unique, write_item

pytestmark = pytest.mark.postgres

ITERATIONS = 200
T = TypeVar("T")


async def pause(standby: Server) -> None:
    await standby.value("SELECT pg_wal_replay_pause()")


async def resume(standby: Server) -> None:
    await standby.value("SELECT pg_wal_replay_resume()")


async def fresh(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` in a task with an empty context (another request, another process)."""
    return await asyncio.create_task(coro, context=contextvars.Context())


async def test_after_a_commit_reads_in_its_context_are_never_stale(replicated, standby):
    await pause(standby)
    name = unique()
    await write_item(replicated, name)
    results = [await look(replicated, name) for _ in range(ITERATIONS)]
    assert results == [(True, None)] * ITERATIONS
    # a context without the commit reads the paused replica, which lacks the row
    assert await fresh(look(replicated, name)) == (False, 0)


async def test_reads_return_to_the_replica_once_it_replayed_the_commit(
    replicated, primary, standby
):
    await pause(standby)
    name = unique()
    await write_item(replicated, name)
    assert await look(replicated, name) == (True, None)
    await resume(standby)
    await wait_replayed(primary, standby)
    assert await look(replicated, name) == (True, 0)


@pytest.mark.parametrize("synchronous_commit", ["on", "off"])
async def test_no_read_after_a_commit_is_stale_while_replication_streams(
    make_db, primary, standby, synchronous_commit
):
    # with synchronous_commit off, COMMIT returns before its WAL is written: the position
    # must still cover it (pg_current_wal_lsn() would not)
    settings = {"server_settings": {"synchronous_commit": synchronous_commit}}
    db = make_db(primary, standby, connect_args=settings)
    stale = on_replica = 0
    for _ in range(ITERATIONS):
        name = unique()
        await write_item(db, name)
        # land on both sides of the replay, however fast or slow the standby is today
        await asyncio.sleep(random.choice((0, 0, 0.001, 0.002, 0.005, 0.02)))
        found, replica = await look(db, name)
        stale += not found
        on_replica += replica is not None
    assert stale == 0
    assert on_replica > 0  # the replica served reads that followed a commit it had replayed


async def test_a_spawned_task_inherits_the_position_and_its_parent_does_not(replicated, standby):
    await pause(standby)
    name = unique()

    async def child() -> tuple[Any, Any]:
        await write_item(replicated, name)
        own = await look(replicated, name)
        started_after = await asyncio.create_task(look(replicated, name))
        return own, started_after

    own, started_after = await asyncio.create_task(child())
    assert own == (True, None)
    assert started_after == (True, None)
    assert await look(replicated, name) == (False, 0)  # the parent reads the replica


async def test_inside_a_consistency_scope_every_commit_counts_for_the_whole_block(
    replicated, standby
):
    await pause(standby)
    spawned, threaded = unique(), unique()
    loop = asyncio.get_running_loop()

    def from_a_thread() -> None:
        asyncio.run_coroutine_threadsafe(write_item(replicated, threaded), loop).result()

    with consistency_scope():
        await asyncio.create_task(write_item(replicated, spawned))
        await asyncio.to_thread(from_a_thread)
        assert await look(replicated, spawned) == (True, None)
        assert await look(replicated, threaded) == (True, None)
    assert await look(replicated, spawned) == (False, 0)


async def test_a_consistency_scope_keeps_the_positions_its_context_held(replicated, standby):
    await pause(standby)
    name = unique()
    await write_item(replicated, name)
    with consistency_scope():
        assert await look(replicated, name) == (True, None)


async def test_a_consistency_token_gives_the_guarantee_in_another_context(
    replicated, primary, standby
):
    await pause(standby)
    name = unique()
    token = await fresh(write_item(replicated, name))
    assert token is not None
    assert re.fullmatch(r"[0-9A-F]{1,8}/[0-9A-F]{1,8}", token)
    assert await fresh(look(replicated, name)) == (False, 0)
    assert await fresh(look(replicated, name, after=token)) == (True, None)
    await resume(standby)
    await wait_replayed(primary, standby)
    assert await fresh(look(replicated, name, after=token)) == (True, 0)


async def test_the_token_is_the_primary_wal_position_after_the_commit(replicated, primary):
    before = await primary.value("SELECT pg_current_wal_insert_lsn()::text")
    token = await write_item(replicated, unique())
    after = await primary.value("SELECT pg_current_wal_insert_lsn()::text")
    assert await primary.value(
        "SELECT $1::text::pg_lsn > $2::text::pg_lsn AND $1::text::pg_lsn <= $3::text::pg_lsn",
        token,
        before,
        after,
    )


async def test_only_commits_that_wrote_get_a_token(replicated):
    async with UnitOfWork(replicated) as uow:
        await uow.session.execute(text("SELECT 1"))
    assert uow.consistency_token is None

    async with UnitOfWork(replicated) as uow:
        pass
    assert uow.consistency_token is None

    # the caller's own SQL counts too
    async with UnitOfWork(replicated) as uow:
        await uow.session.execute(
            text("INSERT INTO replica_items (name) VALUES (:name)"), {"name": unique()}
        )
    assert uow.consistency_token is not None

    with pytest.raises(RuntimeError):
        async with UnitOfWork(replicated) as uow:
            uow.session.add(Item(name=unique()))
            raise RuntimeError("rolled back")
    assert uow.consistency_token is None


async def test_an_explicit_commit_moves_the_token_forward(replicated, primary):
    async with UnitOfWork(replicated) as uow:
        uow.session.add(Item(name=unique()))
        await uow.commit()
        first = uow.consistency_token
        uow.session.add(Item(name=unique()))
    second = uow.consistency_token
    assert first is not None and second is not None
    assert await primary.value("SELECT $1::text::pg_lsn < $2::text::pg_lsn", first, second)


async def test_a_read_only_unit_has_no_token(replicated):
    async with UnitOfWork(replicated, read_only=True) as uow:
        await uow.session.execute(text("SELECT 1"))
    assert uow.consistency_token is None


async def test_a_position_just_past_a_page_header_is_reached_by_an_idle_replica(
    replicated, primary, standby
):
    # after a WAL segment switch the insert position sits past the new segment's page
    # header, while the standby's replay position stops at the segment boundary
    await write_item(replicated, unique())
    await primary.value("SELECT pg_switch_wal()")
    await wait_replayed(primary, standby)
    insert = await primary.value("SELECT pg_current_wal_insert_lsn()::text")
    replayed = await standby.value("SELECT pg_last_wal_replay_lsn()::text")
    token = format_lsn(await replicated.replicas.commit_position())
    assert parse_lsn(token) <= parse_lsn(replayed) < parse_lsn(insert)
    assert await fresh(look(replicated, unique(), after=token)) == (False, 0)
