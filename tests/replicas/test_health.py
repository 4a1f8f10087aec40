"""`health_check()` reports each replica's status and replay lag, and never its URL."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.replicas.cluster import Server, wait_replayed
from tests.replicas.support import unique, write_item

pytestmark = pytest.mark.postgres


async def wait_received_unreplayed(standby: Server) -> None:
    async with asyncio.timeout(10):
        while True:
            if await standby.value("SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()"):
                return
            await asyncio.sleep(0.02)


async def test_a_caught_up_replica_has_no_lag(replicated, primary, standby):
    await write_item(replicated, unique())
    await wait_replayed(primary, standby)
    report = await replicated.health_check()
    assert report["replicas"] == [{"index": 0, "status": "healthy", "lag_seconds": 0.0}]


async def test_a_replica_that_received_more_than_it_replayed_reports_its_lag(
    replicated, primary, standby
):
    await write_item(replicated, unique())
    await wait_replayed(primary, standby)
    await standby.value("SELECT pg_wal_replay_pause()")
    await asyncio.sleep(0.3)
    await write_item(replicated, unique())
    await wait_received_unreplayed(standby)
    (entry,) = (await replicated.health_check())["replicas"]
    assert entry["status"] == "healthy"
    # the age of the last replayed commit: the write before the pause
    assert 0.3 <= entry["lag_seconds"] < 30

    await standby.value("SELECT pg_wal_replay_resume()")
    await wait_replayed(primary, standby)
    (entry,) = (await replicated.health_check())["replicas"]
    assert entry["lag_seconds"] == 0.0


async def test_the_replica_report_names_no_host_port_or_url(make_db, primary, standby):
    db = make_db(primary, standby, standby)
    report = await db.health_check()
    entries = json.dumps(report["replicas"])
    assert [r["index"] for r in report["replicas"]] == [0, 1]
    assert all(set(r) == {"index", "status", "lag_seconds"} for r in report["replicas"])
    for secret in (str(standby.port), "127.0.0.1", "postgres"):
        assert secret not in entries
