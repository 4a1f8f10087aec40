"""What the query and pool monitors cost: a get-by-id through the public API, with and without.

Every `Database` counts and times its statements (`db.monitor`) and its pool checkouts
(`db.pool_monitor`). This benchmark compares, on the same server and table:

- monitored: a `Database` as built (both monitors attached);
- no monitors: the same `Database` settings with both monitors detached;
- traced: monitored, plus `instrument(db)` with an OpenTelemetry SDK tracer provider that
  keeps no spans (when the `otel` extra is installed) — tracing's own cost, for reference.

A call is `async with UnitOfWork(db, read_only=True) as uow: await uow.repository(Item).get(i)`.
Variants run interleaved, in rotating order, after a warm-up; each round times `CALLS`
calls per variant, and the ratio is the median over rounds of variant / baseline time in
the same round. Target: monitored within 1.05x of no monitors. Run: `python -m benchmarks
monitor` (`ORM_BENCH_POSTGRES_URL` picks the server; a private database
`orm_bench_monitor` is created next to it).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import String
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from benchmarks.common import POSTGRES_URL, Row, print_table
from orm_core import Database, QueryMonitor, UnitOfWork
from orm_repositories import AsyncRepository

DATABASE = "orm_bench_monitor"
ROWS = 1_000
CALLS = 100
ROUNDS = int(os.environ.get("ORM_BENCH_ROUNDS", "31"))
TARGET = 1.05


class MonitorBase(DeclarativeBase):
    """A declarative base of its own, so the benchmark table never meets the test models."""


class Item(MonitorBase):
    __tablename__ = "bench_monitor_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))


async def _ensure_database() -> str:
    url = make_url(POSTGRES_URL)
    conn = await asyncpg.connect(
        url.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()
    return url.set(database=DATABASE).render_as_string(hide_password=False)


async def _seed(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(MonitorBase.metadata.drop_all)
        await conn.run_sync(MonitorBase.metadata.create_all)
    async with UnitOfWork(db) as uow:
        await uow.repository(AsyncRepository[Item]).bulk_create(
            {"id": i, "name": f"item {i}"} for i in range(1, ROWS + 1)
        )


def _gets(db: Database) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        for i in range(CALLS):
            async with UnitOfWork(db, read_only=True) as uow:
                item = await uow.repository(AsyncRepository[Item]).get(i % ROWS + 1)
                assert item is not None

    return run


def _traced(url: str) -> Database | None:
    try:
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError:
        return None
    from orm_core import instrument

    db = Database(url)
    instrument(db, tracer_provider=TracerProvider())  # spans are made, then dropped
    return db


async def _compare(label: str, url: str) -> list[Row]:
    monitored, bare = Database(url), Database(url)
    bare.monitor.detach()
    bare.pool_monitor.detach()
    traced = _traced(url)
    variants: dict[str, Database] = {"no monitors": bare, "monitored": monitored}
    if traced is not None:
        variants["monitored + traced (otel)"] = traced
    try:
        await _seed(monitored)
        runs = {name: _gets(db) for name, db in variants.items()}
        for run in runs.values():
            await run()  # warm-up: pool, statement caches
        times: dict[str, list[float]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        names = list(runs)
        for round_ in range(ROUNDS):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                started, started_cpu = time.perf_counter(), time.process_time()
                await runs[name]()
                times[name].append(time.perf_counter() - started)
                cpu[name].append(time.process_time() - started_cpu)
        statements = monitored.monitor.stats()["total_queries"] / ((ROUNDS + 1) * CALLS)
        assert bare.monitor.stats()["total_queries"] == 0
    finally:
        for db in variants.values():
            await db.dispose()
    base = times["no monitors"]
    case = f"{label}: get by id x{CALLS}"
    rows = [Row(case, "no monitors", statistics.median(base), statistics.median(base))]
    for name in names[1:]:
        ratio = _paired(times[name], base)
        median = statistics.median(times[name])
        note = f"cpu {_paired(cpu[name], cpu['no monitors']):.2f}x; "
        note += f"target: within {TARGET:.2f}x" if name == "monitored" else "for reference"
        # Row.ratio divides by the baseline: give it the baseline that yields the paired ratio
        rows.append(Row(case, name, median, median / ratio, note))
    # the monitors' own work per call, timed alone: steadier than any wall-clock pair
    own = _listener_seconds() * statements * CALLS
    per_round = statistics.median(base)
    rows.append(
        Row(case, "estimate: listener work alone", per_round + own, per_round,
            f"{statements:.1f} statements per get; {own / CALLS * 1e6:.2f} us per get")
    )  # fmt: skip
    return rows


def _listener_seconds(repeat: int = 100_000) -> float:
    """Seconds one statement's monitor listeners take (before and after a cursor execute)."""
    monitor = QueryMonitor()

    class Context:
        compiled = None

    context = Context()
    args = (None, None, "SELECT 1", (), context, False)
    started = time.perf_counter()
    for _ in range(repeat):
        monitor._before(*args)
        monitor._after(*args)
    return (time.perf_counter() - started) / repeat


def _paired(times: list[float], baseline: list[float]) -> float:
    """Median over rounds of a variant's time over the baseline's in the same round."""
    return statistics.median(t / b for t, b in zip(times, baseline, strict=True))


async def main() -> None:
    """Print the monitor's overhead on SQLite and, when reachable, PostgreSQL."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as directory:
        rows += await _compare("SQLite", f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}")
    try:
        url = await _ensure_database()
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"PostgreSQL skipped: {exc.__class__.__name__}")
    else:
        rows += await _compare("PostgreSQL", url)
    print_table("Query and pool monitors: overhead on a get by id", rows)
    _print_targets(rows)


def _print_targets(rows: list[Any]) -> None:
    print("\n## Targets\n")
    for row in rows:
        if row.variant == "monitored":
            met = "x" if row.ratio is not None and row.ratio <= TARGET else " "
            print(f"- [{met}] {row.case}: monitored {row.ratio:.3f}x (target {TARGET:.2f}x)")
