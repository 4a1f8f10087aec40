"""Run the workload through every peer on one database, interleaved round by round.

Each piece of work runs its peers once per round, the order rotating, after one untimed
warm-up round; tables are reset before each write (untimed). Every result is checked,
so a fast wrong answer never counts. A ratio is the median over rounds of (peer time /
hand-written ORM time in the same round).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from benchmarks.peers import checks
from benchmarks.peers.base import Peer
from benchmarks.peers.workload import (
    ITEMS_TABLE,
    WRITES_TABLE,
    PeersBase,
    Sizes,
    seed_row,
    write_rows,
)

BASELINE = "SQLAlchemy ORM"
HOT_ID = 1
MIN_PRICE = Decimal("10")


@dataclass
class Outcome:
    """One piece of work on one backend: per-peer times (one per round) and what went wrong."""

    work: str
    unit: str
    times: dict[str, list[float]] = field(default_factory=dict)
    lost: dict[str, list[int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def median(self, peer: str) -> float:
        """The peer's median time for one unit of this work."""
        return statistics.median(self.times[peer])

    def ratio(self, peer: str) -> float:
        """Median over rounds of peer time / baseline time in the same round."""
        pairs = zip(self.times[peer], self.times[BASELINE], strict=True)
        return statistics.median(p / b for p, b in pairs)


@dataclass
class Work:
    """A named piece of work: what one timed call does, its reset, and its check."""

    name: str
    unit: str
    call: Callable[[Peer, int], Awaitable[Any]]
    reset: Callable[[int], Awaitable[None]]
    check: Callable[[Any, int], Awaitable[str | None]]
    per_call: int = 1


class Bench:
    """The workload bound to one database (`url`) and one set of sizes."""

    def __init__(self, url: URL, sizes: Sizes) -> None:
        self.url = url
        self.sizes = sizes
        self.engine: AsyncEngine = create_async_engine(url)
        self.dialect = url.get_backend_name()

    async def prepare(self) -> None:
        """Create both tables afresh and seed the read table with ids 1..N."""
        async with self.engine.begin() as conn:
            if self.dialect == "sqlite":
                await conn.execute(text("PRAGMA journal_mode=WAL"))
            await conn.run_sync(PeersBase.metadata.drop_all)
            await conn.run_sync(PeersBase.metadata.create_all)
        for start in range(1, self.sizes.seed + 1, 100_000):
            stop = min(start + 100_000, self.sizes.seed + 1)
            batch = [seed_row(i) for i in range(start, stop)]
            if self.dialect == "postgresql":
                await self._copy(batch)
            else:
                async with self.engine.begin() as conn:
                    await conn.execute(insert(ITEMS_TABLE), batch)
        async with self.engine.begin() as conn:
            await conn.execute(text(f"ANALYZE {ITEMS_TABLE.name}"))

    async def _copy(self, batch: list[dict[str, Any]]) -> None:
        dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        try:
            columns = [c.name for c in ITEMS_TABLE.columns]
            records = [tuple(row[c] for c in columns) for row in batch]
            await conn.copy_records_to_table(ITEMS_TABLE.name, records=records, columns=columns)
        finally:
            await conn.close()

    async def drop(self) -> None:
        """Drop both tables and close the checking engine."""
        async with self.engine.begin() as conn:
            await conn.run_sync(PeersBase.metadata.drop_all)
        await self.engine.dispose()

    async def _scalar(self, stmt: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(stmt)).scalar_one()

    async def _empty_writes(self, existing: int = 0) -> None:
        async with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                await conn.execute(text(f"TRUNCATE {WRITES_TABLE.name} RESTART IDENTITY"))
            else:
                await conn.execute(WRITES_TABLE.delete())
            if existing:
                await conn.execute(insert(WRITES_TABLE), write_rows(existing, 0)[::2])

    # -- the nine pieces of work ----------------------------------------------------------

    def works(self) -> list[Work]:
        """Every piece of work, in table order."""
        s = self.sizes

        async def nothing(round_: int) -> None:
            return None

        def ids_for(round_: int, count: int) -> list[int]:
            return random.Random(round_).sample(range(1, s.seed + 1), count)

        async def get(peer: Peer, round_: int) -> Any:
            return [await peer.get(i) for i in ids_for(round_, s.calls)]

        async def check_get(got: Any, round_: int) -> str | None:
            want = [(i, f"S{i:08d}") for i in ids_for(round_, s.calls)]
            return checks.differs(got, want, "get by id")

        async def many(peer: Peer, round_: int) -> Any:
            return [sorted(await peer.get_many(ids_for(round_ + c, 100))) for c in range(s.calls)]

        async def check_many(got: Any, round_: int) -> str | None:
            want = [sorted(ids_for(round_ + c, 100)) for c in range(s.calls)]
            return checks.differs(got, want, "100 by ids")

        def category(round_: int) -> str:
            return f"c{round_ % 10}"

        async def listing(peer: Peer, round_: int) -> Any:
            category_ = category(round_)
            return [await peer.list_filtered(category_, MIN_PRICE, 50) for _ in range(s.calls)]

        async def check_list(got: Any, round_: int) -> str | None:
            want = checks.expected_list(s.seed, category(round_), MIN_PRICE, 50)
            return checks.differs(got, [want] * s.calls, "list with filters")

        async def paging(peer: Peer, round_: int) -> Any:
            return [await peer.paginate(category(round_), 3, s.page_size) for _ in range(s.calls)]

        async def check_page(got: Any, round_: int) -> str | None:
            want = checks.expected_page(s.seed, category(round_), 3, s.page_size)
            return checks.differs(got, [want] * s.calls, "paginate")

        async def deep(peer: Peer, round_: int) -> Any:
            return await peer.deep_page(s.deep_after, s.page_size)

        async def check_deep(got: Any, round_: int) -> str | None:
            want = list(range(s.deep_after + 1, s.deep_after + 1 + s.page_size))
            return checks.differs(got, want, "deep page")

        async def sample(peer: Peer, round_: int) -> Any:
            return await peer.sample(s.sample)

        async def check_sample(got: Any, round_: int) -> str | None:
            return checks.sample_problem(got, s.sample, s.seed)

        async def reset_bulk(round_: int) -> None:
            await self._empty_writes()

        async def bulk(peer: Peer, round_: int) -> Any:
            await peer.bulk_insert(write_rows(s.bulk, round_ + 1))

        async def check_bulk(got: Any, round_: int) -> str | None:
            count = await self._scalar(select(func.count()).select_from(WRITES_TABLE))
            return checks.differs(count, s.bulk, "bulk insert: rows in the table")

        async def reset_upsert(round_: int) -> None:
            await self._empty_writes(existing=s.upsert)

        async def upsert(peer: Peer, round_: int) -> Any:
            await peer.upsert(write_rows(s.upsert, round_ + 1))

        async def check_upsert(got: Any, round_: int) -> str | None:
            t = WRITES_TABLE
            total = await self._scalar(select(func.count()).select_from(t))
            fresh = await self._scalar(
                select(func.count()).where(t.c.name.like(f"% v{round_ + 1}"))
            )
            return checks.differs((total, fresh), (s.upsert, s.upsert), "upsert: (rows, updated)")

        async def reset_counter(round_: int) -> None:
            async with self.engine.begin() as conn:
                await conn.execute(
                    ITEMS_TABLE.update().where(ITEMS_TABLE.c.id == HOT_ID).values(hits=0)
                )

        async def counter(peer: Peer, round_: int) -> Any:
            errors: list[str] = []

            async def task() -> int:
                failed = 0
                for _ in range(s.steps):
                    try:
                        await peer.increment(HOT_ID)
                    except Exception as exc:
                        failed += 1
                        errors.append(f"{type(exc).__name__}: {exc}"[:300])
                return failed

            failed = sum(await asyncio.gather(*(task() for _ in range(s.tasks))))
            if errors:
                print(f"{peer.name}: {errors[0]}")
            return failed

        return [
            Work("get by id", "get", get, nothing, check_get, per_call=s.calls),
            Work("100 by ids", "call", many, nothing, check_many, per_call=s.calls),
            Work("list with filters", "call", listing, nothing, check_list, per_call=s.calls),
            Work("paginate", "page", paging, nothing, check_page, per_call=s.calls),
            Work("bulk insert", f"{s.bulk:,} rows", bulk, reset_bulk, check_bulk),
            Work("upsert", f"{s.upsert:,} rows", upsert, reset_upsert, check_upsert),
            Work(
                "hot-row counter",
                f"{s.tasks}x{s.steps} increments",
                counter,
                reset_counter,
                self._no_failures,
            ),
            Work("random sample", f"{s.sample} rows", sample, nothing, check_sample),
            Work("deep page", f"{s.page_size} rows", deep, nothing, check_deep),
        ]

    async def _no_failures(self, failed: Any, round_: int) -> str | None:
        return None if failed == 0 else f"hot-row counter: {failed} increments raised"

    async def hits(self) -> int:
        """The hot row's counter now."""
        return int(await self._scalar(select(ITEMS_TABLE.c.hits).where(ITEMS_TABLE.c.id == HOT_ID)))

    async def run(self, work: Work, peers: list[Peer]) -> Outcome:
        """Time `work` through every peer over the rounds; check every result."""
        outcome = Outcome(work.name, work.unit)
        for round_ in range(self.sizes.rounds + 1):
            shift = round_ % len(peers)
            for peer in peers[shift:] + peers[:shift]:
                await work.reset(round_)
                started = time.perf_counter()
                result = await work.call(peer, round_)
                elapsed = (time.perf_counter() - started) / work.per_call
                if work.name == "hot-row counter":
                    # six pools of 20 would not fit in a server's connection limit at once
                    await peer.release()
                problem = await work.check(result, round_)
                if problem:
                    outcome.problems.append(f"{peer.name} ({self.dialect}): {problem}")
                if work.name == "hot-row counter":
                    lost = self.sizes.tasks * self.sizes.steps - result - await self.hits()
                    outcome.lost.setdefault(peer.name, []).append(lost)
                    if lost and not peer.read_modify_write:
                        outcome.problems.append(f"{peer.name} ({self.dialect}): lost {lost}")
                if round_:  # round 0 warms pools, statement caches and imports
                    outcome.times.setdefault(peer.name, []).append(elapsed)
        return outcome
