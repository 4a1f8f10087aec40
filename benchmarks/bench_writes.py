"""Compare concurrency-safe writes with hand-written SQLAlchemy Core and raw asyncpg.

Cases:

- `upsert_many` of 10,000 rows, half of them existing, against a Core
  `insert().on_conflict_do_update()` executed with a list of dicts, and (PostgreSQL)
  against asyncpg's own `executemany` of the same SQL with prepared tuples.
- `increment` from 50 concurrent tasks, each increment its own transaction, against a
  Core `UPDATE … SET n = n + 1 RETURNING` in the same kind of transaction; once with
  every task on its own row, once with all of them on one hot row.

Variants run interleaved round by round (the order rotates), after one untimed
warm-up round. `median` is the median time of one batch (upserts) or of all the
tasks' increments; `ratio` is the median over rounds of (variant / baseline) measured
in the same round, so a slow moment of the shared machine hits both sides alike.
`rows/s` is given in the note. PostgreSQL runs in a private database created for the
run and dropped afterwards; SQLite on a temp file. `ORM_BENCH_ROUNDS` sets the rounds
(default 7).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import asyncpg
from sqlalchemy import Numeric, String, Table, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from benchmarks.common import POSTGRES_URL, Row, print_table
from orm_core import Database, TimestampMixin, utcnow
from orm_repositories import AsyncRepository

ROUNDS = int(os.environ.get("ORM_BENCH_ROUNDS", "7"))
UPSERT_ROWS = 10_000
TASKS = 50
INCREMENTS_PER_TASK = 20


class WritesBase(DeclarativeBase):
    """A declarative base of its own, so the benchmark table never meets the test models."""


class Item(TimestampMixin, WritesBase):
    __tablename__ = "bench_write_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    stock: Mapped[int] = mapped_column(default=0)
    hits: Mapped[int] = mapped_column(default=0)


TABLE: Table = Item.__table__  # type: ignore[assignment]
Variant = Callable[[], Awaitable[None]]


def upsert_rows(generation: int) -> list[dict[str, Any]]:
    """10,000 rows: even keys exist already, odd keys are new."""
    price = Decimal(generation % 90 + 1)
    return [
        {"sku": f"K{i:06d}", "name": f"item {i} v{generation}", "price": price, "stock": i}
        for i in range(UPSERT_ROWS)
    ]


async def reset_items(db: Database) -> None:
    """Leave exactly the 5,000 existing rows (even keys) in the table."""
    async with db.engine.begin() as conn:
        await conn.execute(text(f"DELETE FROM {TABLE.name}"))
        await conn.execute(TABLE.insert(), upsert_rows(0)[::2])


async def paired(
    variants: dict[str, Variant], setup: Callable[[], Awaitable[None]]
) -> dict[str, list[float]]:
    """Time each variant once per round, rotating the order; run `setup` before each call."""
    names = list(variants)
    times: dict[str, list[float]] = {n: [] for n in names}
    for round_ in range(ROUNDS + 1):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            await setup()
            started = time.perf_counter()
            await variants[name]()
            if round_:  # round 0 warms caches and connections
                times[name].append(time.perf_counter() - started)
    return times


def rows_for(
    case: str, times: dict[str, list[float]], baseline: str, units: int, label: str
) -> list[Row]:
    rows = []
    base = times[baseline]
    for name, samples in times.items():
        ratio = statistics.median(s / b for s, b in zip(samples, base, strict=True))
        median = statistics.median(samples)
        row = Row(case, name, median, note=f"{units / median:,.0f} {label}; paired {ratio:.2f}x")
        row.baseline = median / ratio if name != baseline else None
        rows.append(row)
    return rows


# -- upsert_many ------------------------------------------------------------------------------


async def bench_upserts(db: Database) -> list[Row]:
    insert_for = pg_insert if db.dialect == "postgresql" else sqlite_insert
    generation = iter(range(1, 10_000))

    async def ours() -> None:
        rows = upsert_rows(next(generation))
        async with db.session() as session, session.begin():
            await AsyncRepository[Item](session).upsert_many(rows, conflict_fields=["sku"])

    def core_statement() -> Any:
        stmt = insert_for(TABLE)
        return stmt.on_conflict_do_update(
            index_elements=[TABLE.c.sku],
            set_={
                "name": stmt.excluded.name,
                "price": stmt.excluded.price,
                "stock": stmt.excluded.stock,
                "updated_at": utcnow(),
            },
        )

    async def core() -> None:
        rows = upsert_rows(next(generation))
        async with db.engine.begin() as conn:
            await conn.execute(core_statement(), rows)

    variants: dict[str, Variant] = {"Core on_conflict_do_update": core, "repo.upsert_many": ours}
    if db.dialect == "postgresql":
        sql = (
            f"INSERT INTO {TABLE.name} (sku, name, price, stock, hits, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sku) DO UPDATE SET "
            "name = excluded.name, price = excluded.price, stock = excluded.stock, "
            "updated_at = excluded.updated_at"
        )

        async def raw() -> None:
            rows = upsert_rows(next(generation))
            now = utcnow()
            records = [(r["sku"], r["name"], r["price"], r["stock"], 0, now, now) for r in rows]
            async with db.engine.connect() as conn:
                raw_conn = (await conn.get_raw_connection()).driver_connection
                async with raw_conn.transaction():
                    await raw_conn.executemany(sql, records)

        variants["asyncpg executemany"] = raw
    times = await paired(variants, lambda: reset_items(db))
    case = f"upsert_many {UPSERT_ROWS:,} ({db.dialect})"
    rows = rows_for(case, times, "Core on_conflict_do_update", UPSERT_ROWS, "rows/s")
    if "asyncpg executemany" in times:
        pairs = zip(times["asyncpg executemany"], times["repo.upsert_many"], strict=True)
        share = statistics.median(raw / ours for raw, ours in pairs)
        rows[1].note += f"; {share:.2f}x asyncpg's rows/s (target >= 0.80x)"
    return rows


# -- increment --------------------------------------------------------------------------------


async def bench_increments(db: Database, *, hot: bool) -> list[Row]:
    async with db.engine.begin() as conn:
        await conn.execute(text(f"DELETE FROM {TABLE.name}"))
        await conn.execute(
            TABLE.insert(),
            [{"sku": f"T{i}", "name": "t", "price": Decimal("1")} for i in range(TASKS)],
        )
        ids = [
            r[0]
            for r in (await conn.execute(text(f"SELECT id FROM {TABLE.name} ORDER BY id"))).all()
        ]

    async def run(one: Callable[[int], Awaitable[None]]) -> None:
        async def task(n: int) -> None:
            target = ids[0] if hot else ids[n]
            for _ in range(INCREMENTS_PER_TASK):
                await one(target)

        await asyncio.gather(*(task(n) for n in range(TASKS)))

    async def ours_one(target: int) -> None:
        async with db.session() as session, session.begin():
            await AsyncRepository[Item](session).increment(target, "hits")

    async def core_one(target: int) -> None:
        stmt = (
            update(TABLE)
            .where(TABLE.c.id == target)
            .values(hits=TABLE.c.hits + 1, updated_at=utcnow())
            .returning(*TABLE.c)
        )
        async with db.session() as session, session.begin():
            (await session.execute(stmt)).one()

    async def noop() -> None:
        return None

    variants: dict[str, Variant] = {
        "Core UPDATE … RETURNING": lambda: run(core_one),
        "repo.increment": lambda: run(ours_one),
    }
    times = await paired(variants, noop)
    shape = "one hot row" if hot else "a row per task"
    case = f"increment x{TASKS} tasks, {shape} ({db.dialect})"
    return rows_for(
        case, times, "Core UPDATE … RETURNING", TASKS * INCREMENTS_PER_TASK, "increments/s"
    )


# -- databases --------------------------------------------------------------------------------


async def _admin(sql: str) -> None:
    dsn = make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def run_on(db: Database) -> list[Row]:
    async with db.engine.begin() as conn:
        await conn.run_sync(WritesBase.metadata.create_all)
    rows = await bench_upserts(db)
    rows += await bench_increments(db, hot=False)
    rows += await bench_increments(db, hot=True)
    return rows


async def main() -> None:
    """Run every case on PostgreSQL (when reachable) and SQLite; print one table."""
    rows: list[Row] = []
    name = f"bench_writes_{uuid.uuid4().hex[:10]}"
    try:
        await _admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # pragma: no cover - depends on the machine
        print(f"PostgreSQL unreachable ({exc}); SQLite only")
    else:
        db = Database(make_url(POSTGRES_URL).set(database=name), pool_size=20, max_overflow=0)
        try:
            rows += await run_on(db)
        finally:
            await db.dispose()
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    with tempfile.TemporaryDirectory() as directory:
        db = Database(f"sqlite+aiosqlite:///{directory}/bench.db")
        try:
            rows += await run_on(db)
        finally:
            await db.dispose()
    print_table("writes: upsert_many and increment vs hand-written SQL", rows)
