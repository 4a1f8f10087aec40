"""Outbox relays as OS processes, SIGKILLed mid-batch: nothing lost, topic order kept, few repeats.

Two relay processes (`tests/core/outbox_relay_worker.py`) work through 1,200 messages in
six topics on a private PostgreSQL database. One kills itself right after a delivery it
has not marked yet; the other is killed from outside at an arbitrary point; both are
restarted. Every delivery is logged with a system-wide monotonic timestamp, which orders
the deliveries of all processes on one time line.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from orm_core import Database, OutboxMessage, UnitOfWork

ROOT = Path(__file__).resolve().parents[2]
TOPICS = [f"topic-{n}" for n in range(6)]
UNITS, PER_UNIT = 60, 20

pytestmark = [pytest.mark.postgres, pytest.mark.server_session]


@dataclass
class Run:
    """One relay process and the file it logs its deliveries to."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    killed_at: int | None = None  # monotonic ns, when the test sent SIGKILL

    def deliveries(self) -> list[tuple[int, str, int]]:
        if not self.log.exists():
            return []
        lines = self.log.read_text().splitlines()
        return [(int(ts), topic, int(id_)) for ts, topic, id_ in (line.split() for line in lines)]

    @property
    def killed(self) -> bool:
        return self.process.returncode == -signal.SIGKILL


@pytest.fixture
async def private_url(postgres_url: str | None) -> AsyncIterator[str]:
    if postgres_url is None:
        pytest.skip("PostgreSQL unreachable")
    name = f"orm_outbox_crash_{uuid.uuid4().hex[:10]}"
    admin = make_url(postgres_url).set(drivername="postgresql", query={})
    dsn = admin.render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _pending(db: Database) -> int:
    row = await db.fetch_one("SELECT count(*) AS n FROM orm_outbox WHERE delivered_at IS NULL")
    assert row is not None
    return int(row["n"])


async def test_killed_relay_processes_lose_nothing_and_keep_each_topic_in_order(
    private_url: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    db = Database(private_url)
    runs: list[Run] = []
    stop = tmp_path / "stop"

    def start(name: str, kill_after: int = 0) -> Run:
        log = tmp_path / f"{name}.log"
        command = [sys.executable, "-m", "tests.core.outbox_relay_worker", private_url]
        process = subprocess.Popen(
            [*command, str(log), str(stop), str(kill_after)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        runs.append(Run(name, process, log))
        return runs[-1]

    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(OutboxMessage.__table__.create)
        chooser = random.Random(7)
        published: dict[int, str] = {}
        for _ in range(UNITS):
            async with UnitOfWork(db) as uow:
                for n in range(PER_UNIT):
                    topic = chooser.choice(TOPICS)
                    published[(await uow.publish(topic, {"n": n})).id] = topic

        first_a = start("a1", kill_after=120)  # kills itself mid-batch, message unmarked
        first_b = start("b1")
        await _wait_for(lambda: len(first_b.deliveries()) >= 250)
        first_b.killed_at = time.monotonic_ns()
        first_b.process.send_signal(signal.SIGKILL)
        first_b.process.wait(timeout=10)
        start("b2")
        await _wait_for(lambda: first_a.process.poll() is not None)
        start("a2")
        deadline = time.monotonic() + 25
        while await _pending(db):
            assert time.monotonic() < deadline, "the relays did not drain the outbox"
            await asyncio.sleep(0.1)
        stop.touch()
        for run in runs:
            run.process.wait(timeout=10)
    finally:
        for run in runs:
            if run.process.poll() is None:
                run.process.kill()
                run.process.wait()
        await db.dispose()

    killed = [run for run in runs if run.killed]
    assert {run.name for run in killed} == {"a1", "b1"}
    assert all(run.process.returncode == 0 for run in runs if run not in killed)

    # every message delivered at least once, and nothing else
    deliveries = [(ts, topic, id_, run) for run in runs for ts, topic, id_ in run.deliveries()]
    times = Counter(id_ for _, _, id_, _ in deliveries)
    assert set(times) == set(published)
    assert all(published[id_] == topic for _, topic, id_, _ in deliveries)

    # per topic, on one time line: ids only go up, except that a message a killed relay
    # had delivered but not marked (its last delivery) is delivered again right after it
    last_of = {run.name: run.deliveries()[-1][2] for run in killed}
    by_topic: dict[str, list[tuple[int, int, Run]]] = defaultdict(list)
    for ts, topic, id_, run in deliveries:
        by_topic[topic].append((ts, id_, run))
    repeats = 0
    for sequence in by_topic.values():
        sequence.sort(key=lambda item: item[0])
        for (_, previous, by), (ts, current, _) in itertools.pairwise(sequence):
            if current > previous:
                continue
            assert current == previous, f"message {current} delivered after {previous}"
            assert by in killed and last_of[by.name] == current, "a repeat without a crash"
            assert by.killed_at is None or ts > by.killed_at, "handed out twice concurrently"
            repeats += 1
    assert repeats == sum(n - 1 for n in times.values())
    assert 1 <= repeats <= len(killed)  # at most the one unmarked message per crash
    elapsed = time.monotonic() - started
    print(
        f"\noutbox crash test: {len(published)} messages, {len(TOPICS)} topics, "
        f"{len(runs)} relay processes, {len(killed)} SIGKILLs, {repeats} re-deliveries, "
        f"{elapsed:.1f}s"
    )
