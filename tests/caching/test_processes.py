"""Two OS processes share Redis: one commits in a loop, the other reads through the cache.

The check is the contract's: a read that started after a commit returned never sees a
value older than that commit. Both processes stamp events with CLOCK_MONOTONIC (one
clock for the whole machine): the writer after `commit` returned, the reader before its
read began, so a commit stamped before a read's start surely returned before it began
(the stamps can only make the check miss a pair, never flag a good one).
"""

from __future__ import annotations

import bisect
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from orm_core import Database, UnitOfWork
from orm_repositories import AsyncRepository
from tests.models import Product

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["redis", "hybrid"])
async def test_no_read_is_older_than_the_last_commit_that_returned_before_it(
    database: Database, redis_url: str, prefix: str, tmp_path: Path, kind: str
):
    async with UnitOfWork(database) as uow:
        await uow.repository(AsyncRepository[Product]).create(
            sku="RACE", name="race", price=Decimal(1), stock=0
        )
    url = database.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def start(role: str) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "tests.caching.cache_race_worker", role, url, kind,
                   redis_url, prefix, str(tmp_path)]  # fmt: skip
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)

    reader = start("reader")
    writer = start("writer")
    writer_out, _ = writer.communicate(timeout=300)
    reader_out, _ = reader.communicate(timeout=300)
    assert writer.returncode == 0 and reader.returncode == 0

    commits = _pairs(tmp_path / "writer.txt")
    reads = _pairs(tmp_path / "reader.txt")
    assert [value for value, _ in commits] == list(range(1, 2001))
    stamps = [stamp for _, stamp in commits]
    stale = []
    after_a_commit = 0
    for started, seen in reads:
        returned = bisect.bisect_left(stamps, started)  # commits stamped before the read began
        if returned:
            after_a_commit += 1
            if seen < returned:  # commit i wrote stock = i
                stale.append((started, seen, returned))
    reader_stats = json.loads(reader_out.strip().splitlines()[-1])
    writer_stats = json.loads(writer_out.strip().splitlines()[-1])

    assert stale == []
    assert len(reads) >= 2000 and after_a_commit >= 1000
    assert len({seen for _, seen in reads}) > 100  # the reads really interleaved the writes
    assert reader_stats["hits"] > 0 and reader_stats["misses"] > 0
    assert writer_stats["invalidations"] == 2000 and writer_stats["errors"] == 0
    assert reader_stats["errors"] == 0


def _pairs(path: Path) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in (line.split() for line in path.read_text().split("\n"))]
