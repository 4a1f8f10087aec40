"""A throwaway PostgreSQL primary with streaming standbys, in a temporary directory.

The machine's own cluster accepts no replication connections, so the replica tests
build their own: `initdb` a primary, `pg_basebackup -R -X stream` standbys from it,
each server on a free loopback port with its socket in the directory. As root, the
server programs run as the `postgres` user (they refuse to run as root).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

T = TypeVar("T")

# settings for a disposable test cluster: no fsync, WAL kept for standbys that restart,
# and no standby query cancelled over vacuum on the primary
_CONFIG = """
fsync = off
full_page_writes = off
shared_buffers = 32MB
max_connections = 100
wal_keep_size = 256MB
hot_standby_feedback = on
wal_receiver_status_interval = 1s
"""


def postgres_bin() -> Path | None:
    """The directory of the newest installed server programs (ORM_TEST_PG_BIN wins)."""
    given = os.environ.get("ORM_TEST_PG_BIN")
    if given:
        return Path(given)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    candidates = [Path(p) for p in found if (Path(p) / "initdb").exists()]
    return candidates[-1] if candidates else None


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end from sync code, even inside a running event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One PostgreSQL server of the cluster: its data directory and port."""

    cluster: Cluster
    name: str
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.cluster.root / self.name

    @property
    def log(self) -> Path:
        return self.cluster.root / f"{self.name}.log"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.cluster.root} -c listen_addresses=127.0.0.1"
        self.cluster.run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60",
                         "-o", options, "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self.cluster.run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop", check=False)

    def promote(self) -> None:
        self.cluster.run("pg_ctl", "-D", self.data, "-w", "promote")

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user="postgres",
                                     database="postgres", timeout=10)  # fmt: skip
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    async def value(self, sql: str, *args: object) -> object:
        rows = await self.fetch(sql, *args)
        return rows[0][0] if rows else None


class Cluster:
    """A primary and its standbys under one temporary directory, removed by `close()`."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="orm-replicas-"))
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self.servers: list[Server] = []
        self.primary = Server(self, "primary")
        self._names = itertools.count(1)

    def run(self, program: str, *args: object, check: bool = True) -> None:
        command = [str(self.bin / program), *map(str, args)]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if check and done.returncode != 0:
            logs = "".join(p.read_text()[-3000:] for p in self.root.glob("*.log"))
            raise RuntimeError(f"{program} failed: {done.stdout}{done.stderr}\n{logs}")

    def start_primary(self) -> Server:
        data = self.primary.data
        self.run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                 "--locale=C", "--no-sync", "--no-instructions")  # fmt: skip
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(_CONFIG)
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        self._started(self.primary)
        return self.primary

    def add_standby(self) -> Server:
        """Clone the primary into a new streaming standby, started and streaming."""
        standby = Server(self, f"standby{next(self._names)}")
        self.run("pg_basebackup", "-h", "127.0.0.1", "-p", self.primary.port, "-U", "postgres",
                 "-D", standby.data, "-R", "-X", "stream", "-c", "fast")  # fmt: skip
        self._started(standby)
        run_blocking(wait_streaming(standby))
        return standby

    def remove(self, server: Server) -> None:
        server.stop("immediate")
        self.servers.remove(server)
        shutil.rmtree(server.data, ignore_errors=True)

    def close(self) -> None:
        for server in reversed(self.servers):
            server.stop("fast")
        shutil.rmtree(self.root, ignore_errors=True)

    def _started(self, server: Server) -> None:
        self.servers.append(server)
        for attempt in range(3):
            try:
                server.start()
                return
            except RuntimeError:
                if attempt == 2:
                    raise
                server.port = free_port()  # someone took the port meanwhile


async def wait_streaming(standby: Server) -> None:
    """Wait (30 s at most) until the standby accepts connections and streams from the primary."""
    async with asyncio.timeout(30):
        while True:
            try:
                if await standby.value("SELECT status FROM pg_stat_wal_receiver") == "streaming":
                    return
            except (OSError, asyncpg.PostgresError):
                pass
            await asyncio.sleep(0.05)


async def wait_replayed(primary: Server, standby: Server) -> None:
    """Wait (30 s at most) until the standby replayed everything the primary flushed so far."""
    target = await primary.value("SELECT pg_current_wal_flush_lsn()::text")
    async with asyncio.timeout(30):
        while True:
            if await standby.value("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", target):
                return
            await asyncio.sleep(0.02)
