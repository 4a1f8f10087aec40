"""Fixtures: a real primary and streaming standby for the session, and databases over them.

`replica_cluster` builds the pair once per run (about ten seconds) and removes it at the
end. Tests that break a standby (stop it, promote it) take one of their own from
`extra_standby`. Without the server programs the tests skip, unless
ORM_REQUIRE_POSTGRES=1 makes that a failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from orm_core import Database
from tests.conftest import REQUIRE_POSTGRES
from tests.replicas.cluster import Cluster, Server, postgres_bin, wait_replayed
from tests.replicas.models import ReplicaBase

BACKOFF = 0.5


@pytest.fixture(scope="session")
def replica_cluster() -> Iterator[Cluster]:
    """A primary with one streaming standby (`cluster.servers[1]`), tables created."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL server programs (initdb, pg_ctl) are required but missing")
        pytest.skip("PostgreSQL server programs (initdb, pg_ctl) not installed")
    cluster = Cluster(bin_dir)
    try:
        primary = cluster.start_primary()
        asyncio.run(_create_tables(primary))
        cluster.add_standby()
        yield cluster
    finally:
        cluster.close()


async def _create_tables(primary: Server) -> None:
    db = Database(primary.url)
    try:
        await db.create_all(ReplicaBase.metadata)
    finally:
        await db.dispose()


@pytest.fixture
def primary(replica_cluster: Cluster) -> Server:
    return replica_cluster.primary


@pytest.fixture
async def standby(replica_cluster: Cluster) -> AsyncIterator[Server]:
    """The session's standby, caught up; replay is resumed after the test."""
    server = replica_cluster.servers[1]
    await server.value("SELECT pg_wal_replay_resume()")
    await wait_replayed(replica_cluster.primary, server)
    yield server
    await server.value("SELECT pg_wal_replay_resume()")


@pytest.fixture
def extra_standby(replica_cluster: Cluster) -> Iterator[Callable[[], Server]]:
    """Make standbys of the test's own (to stop or promote); removed afterwards."""
    made: list[Server] = []

    def make() -> Server:
        server = replica_cluster.add_standby()
        made.append(server)
        return server

    yield make
    for server in made:
        replica_cluster.remove(server)


@pytest.fixture
async def make_db() -> AsyncIterator[Callable[..., Database]]:
    """Build databases over the cluster; each is disposed after the test."""
    made: list[Database] = []

    def make(primary: Server, *replicas: Server | str, **options: Any) -> Database:
        urls = [r if isinstance(r, str) else r.url for r in replicas]
        options.setdefault("replica_backoff", BACKOFF)
        db = Database(primary.url, replicas=urls, **options)
        made.append(db)
        return db

    yield make
    for db in made:
        await db.dispose()


@pytest.fixture
async def replicated(
    make_db: Callable[..., Database], primary: Server, standby: Server
) -> Database:
    """A database whose read-only units read from the session's standby."""
    return make_db(primary, standby)
