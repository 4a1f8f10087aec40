"""The peers benchmark at a tiny scale: every peer runs every piece of work and is right.

A benchmark that times wrong answers misleads, so the benchmark checks each result
itself; these tests run it end to end on both databases and make sure the checks and
the lost-update count can fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

for _package in ("advanced_alchemy", "tortoise", "sqlmodel", "matplotlib"):
    pytest.importorskip(_package, reason="the peers need the bench extra: pip install '.[bench]'")

from benchmarks.bench_peers import make_peers, run_backend  # noqa: E402
from benchmarks.peers import report  # noqa: E402
from benchmarks.peers.alchemy import CorePeer, OrmPeer  # noqa: E402
from benchmarks.peers.runner import BASELINE, Bench  # noqa: E402
from benchmarks.peers.workload import Sizes  # noqa: E402
from orm_core import Database  # noqa: E402

pytestmark = [
    pytest.mark.server_session,  # Tortoise connects on its own, not through PgBouncer
    pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning"),  # Decimal on SQLite
]

TINY = Sizes.scaled(0.001, rounds=1)
WORKS = {
    "get by id", "100 by ids", "list with filters", "paginate", "bulk insert", "upsert",
    "hot-row counter", "random sample", "deep page",
}  # fmt: skip


class LossyPeer(OrmPeer):
    """Drops every second increment, as a read-modify-write race would."""

    name: ClassVar[str] = "lossy"
    read_modify_write: ClassVar[bool] = True
    calls = 0

    async def increment(self, id: int) -> None:
        self.calls += 1
        if self.calls % 2:
            await super().increment(id)


class ShiftedPeer(CorePeer):
    """Answers the deep page one row late."""

    name: ClassVar[str] = "shifted"

    async def deep_page(self, after_id: int, size: int) -> list[int]:
        return await super().deep_page(after_id + 1, size)


async def test_every_peer_does_every_piece_of_work_right(database: Database, tmp_path: Path):
    peers = make_peers()
    outcomes = await run_backend(database.url, TINY, peers)

    assert {o.work for o in outcomes} == WORKS
    assert [p for o in outcomes for p in o.problems] == []
    for outcome in outcomes:
        assert set(outcome.times) == {p.name for p in peers}
        assert all(len(t) == TINY.rounds and min(t) > 0 for t in outcome.times.values())
        assert outcome.ratio(BASELINE) == 1.0
    counter = next(o for o in outcomes if o.work == "hot-row counter")
    increments = TINY.tasks * TINY.steps
    for peer in peers:
        lost = counter.lost[peer.name]
        assert all(0 <= n < increments for n in lost)
        if not peer.read_modify_write:
            assert lost == [0] * (TINY.rounds + 1), peer.name

    chart = tmp_path / "peers.png"
    report.chart({"db": outcomes}, peers, chart, "tiny")
    assert chart.read_bytes().startswith(b"\x89PNG")
    text = report.table("db", outcomes, peers)
    assert text.count("\n") == len(WORKS) + 1
    assert "[1]" in text and report.notes_text(peers).startswith("1. ")


async def test_counts_the_updates_a_peer_loses_and_reports_wrong_answers(database: Database):
    bench = Bench(database.url, TINY)
    await bench.prepare()
    peers = [OrmPeer(), LossyPeer(), ShiftedPeer()]
    for peer in peers:
        await peer.start(database.url)
    try:
        works = {w.name: w for w in bench.works()}
        counter = await bench.run(works["hot-row counter"], peers)
        deep = await bench.run(works["deep page"], peers)
    finally:
        for peer in peers:
            await peer.stop()
        await bench.drop()

    half = TINY.tasks * TINY.steps // 2
    assert counter.lost == {"SQLAlchemy ORM": [0, 0], "lossy": [half, half], "shifted": [0, 0]}
    assert counter.problems == []
    assert len(deep.problems) == TINY.rounds + 1
    assert all(p.startswith("shifted") and "deep page" in p for p in deep.problems)
