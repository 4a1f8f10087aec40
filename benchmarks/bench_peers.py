"""Run the same work through this framework and its peers, side by side.

The peers are hand-written SQLAlchemy (Core and ORM), advanced-alchemy, Tortoise ORM and
SQLModel (the `bench` extra: `pip install -e '.[bench]'`). Each runs the nine pieces of
work of `benchmarks.peers.runner` on PostgreSQL (a private database next to
`ORM_BENCH_POSTGRES_URL`, dropped afterwards) and on SQLite (a temp file), in one
process, interleaved round by round. The table gives each peer's time relative to the
hand-written ORM; the chart goes to `PEERS_CHART` (default docs/benchmarks-peers.png).
`PEERS_SCALE` (default 1) scales the table and batch sizes, `PEERS_ROUNDS` (default 5)
sets the timed rounds, and `PEERS_JSON`, when set, names a file for every round's times.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import uuid
import warnings
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from benchmarks.common import POSTGRES_URL
from benchmarks.peers import report
from benchmarks.peers.advanced import AdvancedAlchemyPeer
from benchmarks.peers.alchemy import CorePeer, OrmPeer
from benchmarks.peers.base import Peer
from benchmarks.peers.framework import FrameworkPeer
from benchmarks.peers.runner import Bench, Outcome
from benchmarks.peers.sqlmodel_peer import SQLModelPeer
from benchmarks.peers.tortoise_peer import TortoisePeer
from benchmarks.peers.workload import Sizes

CHART = Path(os.environ.get("PEERS_CHART", "docs/benchmarks-peers.png"))


def make_peers() -> list[Peer]:
    """One of each peer, the baseline (hand-written ORM) among them."""
    return [FrameworkPeer(), OrmPeer(), CorePeer(), AdvancedAlchemyPeer(), TortoisePeer(),
            SQLModelPeer()]


async def run_backend(url: URL, sizes: Sizes, peers: list[Peer]) -> list[Outcome]:
    """Seed the tables at `url`, run every piece of work through `peers`, drop the tables."""
    bench = Bench(url, sizes)
    await bench.prepare()
    for peer in peers:
        await peer.start(url)
    try:
        outcomes = []
        for work in bench.works():
            outcomes.append(await bench.run(work, peers))
            print(f"{bench.dialect}: {work.name} done", file=sys.stderr, flush=True)
        return outcomes
    finally:
        for peer in peers:
            await peer.stop()
        await bench.drop()


async def _admin(sql: str) -> None:
    dsn = make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def run_all(sizes: Sizes) -> dict[str, list[Outcome]]:
    """Run on PostgreSQL (when reachable) and SQLite; return the outcomes per backend."""
    results: dict[str, list[Outcome]] = {}
    name = f"bench_peers_{uuid.uuid4().hex[:10]}"
    try:
        await _admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # pragma: no cover - depends on the machine
        print(f"PostgreSQL unreachable ({exc}); SQLite only")
    else:
        try:
            url = make_url(POSTGRES_URL).set(database=name)
            results["PostgreSQL"] = await run_backend(url, sizes, make_peers())
        finally:
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    with tempfile.TemporaryDirectory() as directory:
        url = make_url(f"sqlite+aiosqlite:///{directory}/peers.db")
        results["SQLite"] = await run_backend(url, sizes, make_peers())
    return results


def save_raw(results: dict[str, list[Outcome]], path: Path) -> None:
    """Write every round's times, lost updates and problems as JSON."""
    raw = {d: [vars(o) for o in outcomes] for d, outcomes in results.items()}
    path.write_text(json.dumps(raw, indent=1))


async def main() -> None:
    """Run the peers, print the tables and footnotes, write the chart."""
    warnings.filterwarnings("ignore", category=sa_exc.SAWarning)  # SQLite and Decimal
    sizes = Sizes.from_env()
    started = datetime.now(UTC)
    results = await run_all(sizes)
    peers = make_peers()
    machine = f"{os.cpu_count()} cores, {report.cpu_model()}, {platform.system()}"
    heading = (f"{started:%Y-%m-%d} · {machine} · seed {sizes.seed:,} rows · "
               f"median of {sizes.rounds} interleaved rounds")
    print(f"\n## The peers\n\n{heading}\n\n{report.versions()}\n")
    for dialect, outcomes in results.items():
        print(report.table(dialect, outcomes, peers) + "\n")
    print(report.notes_text(peers))
    problems = [p for outcomes in results.values() for o in outcomes for p in o.problems]
    CHART.parent.mkdir(parents=True, exist_ok=True)
    report.chart(results, peers, CHART, heading)
    print(f"\nchart written to {CHART}")
    if os.environ.get("PEERS_JSON"):
        save_raw(results, Path(os.environ["PEERS_JSON"]))
    if problems:
        print("\nwrong results:\n" + "\n".join(problems))
        sys.exit(1)
