"""The framework against hand-written code doing the same work, on PostgreSQL, as users call it.

Every framework call runs in a unit of work of its own (`async with UnitOfWork(db)`):
users pay for the unit too. Each case times the framework and its hand-written
reference once per round, the order rotating, over `ORM_BENCH_ROUNDS` rounds (default
5) after an untimed warm-up round; `ratio` is the median over rounds of the
reference's time over the framework's time measured in the same round (the speed of
the framework as a share of the reference's: above 1 is faster). Timings are medians.

- upsert_many: 10,000 rows, half existing, vs Core `on_conflict_do_update` executemany
  in `engine.begin()`; target >= 1.5x.
- bulk_create: 100,000 rows into an emptied table vs asyncpg `copy_records_to_table` of
  the same rows; target >= 0.7x.
- increment / update_if: 50 tasks on one hot row, each call its own transaction, vs Core
  `UPDATE ... RETURNING` in `engine.begin()`; target >= 0.87x.
- sample(10) of 1,000,000 rows vs `ORDER BY random() LIMIT 10`; target >= 100x and
  <= 2 ms a call.
- get, get_many(100), a keyset page, `load=` of two collections: no regression; `load=`
  against hand-written `selectinload`, target >= 0.91x (<= 1.1x the time).

PostgreSQL runs in a private database created for the run and dropped afterwards; between
cases it is vacuumed (untimed), so no case pays for the dead rows of the one before.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
from sqlalchemy import ForeignKey, Numeric, String, Table, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload

from benchmarks.common import POSTGRES_URL
from orm_core import Database, TimestampMixin, UnitOfWork, utcnow
from orm_repositories import AsyncRepository

ROUNDS = int(os.environ.get("ORM_BENCH_ROUNDS", "5"))
UPSERT_ROWS = 10_000
BULK_ROWS = 100_000
TASKS = 50
COUNTER_CALLS = 40
SAMPLE_ROWS = 1_000_000
SAMPLE_CALLS = 50
READ_CALLS = 200
POOL_SIZE = 20  # the server is shared: 50 tasks queue on 20 connections, on both sides
PAGES = 30  # of 50 authors, of 2,000


class LimitsBase(DeclarativeBase):
    """A declarative base of its own, so the benchmark tables never meet the test models."""


class Item(TimestampMixin, LimitsBase):
    __tablename__ = "bench_limit_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    stock: Mapped[int] = mapped_column(default=0)
    hits: Mapped[int] = mapped_column(default=0)


class Point(LimitsBase):
    __tablename__ = "bench_limit_points"

    id: Mapped[int] = mapped_column(primary_key=True)
    n: Mapped[int]


class Author(LimitsBase):
    __tablename__ = "bench_limit_authors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    books: Mapped[list[Book]] = relationship(back_populates="author")
    awards: Mapped[list[Award]] = relationship()


class Book(LimitsBase):
    __tablename__ = "bench_limit_books"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("bench_limit_authors.id"))
    title: Mapped[str] = mapped_column(String(50))
    author: Mapped[Author] = relationship(back_populates="books")


class Award(LimitsBase):
    __tablename__ = "bench_limit_awards"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("bench_limit_authors.id"))
    title: Mapped[str] = mapped_column(String(50))


ITEMS: Table = Item.__table__  # type: ignore[assignment]
Variant = Callable[[], Awaitable[None]]


@dataclass
class Result:
    """One line of the table: the work, both medians, the paired ratio and the target."""

    work: str
    framework: str
    reference: str
    ratio: float
    target: str
    met: bool | None


async def paired(
    ours: Variant, theirs: Variant, setup: Callable[[], Awaitable[None]] | None = None
) -> tuple[list[float], list[float]]:
    """Time both once per round, the order alternating; `setup` runs untimed before each."""
    times: tuple[list[float], list[float]] = ([], [])
    for round_ in range(ROUNDS + 1):
        order = [(0, ours), (1, theirs)] if round_ % 2 else [(1, theirs), (0, ours)]
        for index, variant in order:
            if setup is not None:
                await setup()
            started = time.perf_counter()
            await variant()
            if round_:  # round 0 warms caches, connections and prepared statements
                times[index].append(time.perf_counter() - started)
    return times


def speed(times: tuple[list[float], list[float]]) -> float:
    """The median over rounds of the reference's time over the framework's."""
    return statistics.median(t / o for o, t in zip(*times, strict=True))


def _rate(units: int, seconds: float, label: str) -> str:
    return f"{units / seconds:,.0f} {label}"


# -- upsert_many --------------------------------------------------------------------------


def upsert_rows(generation: int) -> list[dict[str, Any]]:
    """10,000 rows: even keys exist already, odd keys are new."""
    price = Decimal(generation % 90 + 1) + Decimal("0.25")
    return [
        {"sku": f"K{i:06d}", "name": f"item {i} v{generation}", "price": price, "stock": i}
        for i in range(UPSERT_ROWS)
    ]


async def bench_upsert(db: Database) -> Result:
    generation = iter(range(1, 10_000))

    async def reset() -> None:
        async with db.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {ITEMS.name}"))
            await conn.execute(ITEMS.insert(), upsert_rows(0)[::2])

    async def ours() -> None:
        rows = upsert_rows(next(generation))
        async with UnitOfWork(db) as uow:
            await uow.repository(AsyncRepository[Item]).upsert_many(rows, conflict_fields=["sku"])

    async def core() -> None:
        rows = upsert_rows(next(generation))
        statement = pg_insert(ITEMS)
        statement = statement.on_conflict_do_update(
            index_elements=[ITEMS.c.sku],
            set_={
                "name": statement.excluded.name,
                "price": statement.excluded.price,
                "stock": statement.excluded.stock,
                "updated_at": utcnow(),
            },
        )
        async with db.engine.begin() as conn:
            await conn.execute(statement, rows)

    times = await paired(ours, core, reset)
    ratio = speed(times)
    return Result(
        f"upsert_many {UPSERT_ROWS:,} rows, half existing",
        _rate(UPSERT_ROWS, statistics.median(times[0]), "rows/s"),
        "Core on_conflict_do_update executemany "
        + _rate(UPSERT_ROWS, statistics.median(times[1]), "rows/s"),
        ratio,
        ">= 1.50x",
        ratio >= 1.5,
    )


# -- bulk_create ----------------------------------------------------------------------------


async def bench_bulk_create(db: Database) -> Result:
    price = Decimal("9.99")
    rows = [
        {"sku": f"B{i:07d}", "name": f"bulk {i}", "price": price, "stock": i}
        for i in range(BULK_ROWS)
    ]

    async def reset() -> None:
        async with db.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {ITEMS.name}"))

    async def ours() -> None:
        async with UnitOfWork(db) as uow:
            await uow.repository(AsyncRepository[Item]).bulk_create(rows, batch_size=BULK_ROWS)

    async def copy() -> None:
        now = utcnow()
        # the same rows, converted by hand: the values asyncpg takes, defaults filled in
        records = [(r["sku"], r["name"], r["price"], r["stock"], 0, now, now) for r in rows]
        columns = ["sku", "name", "price", "stock", "hits", "created_at", "updated_at"]
        async with db.engine.connect() as conn:
            raw: Any = (await conn.get_raw_connection()).driver_connection
            async with raw.transaction():
                await raw.copy_records_to_table(ITEMS.name, records=records, columns=columns)

    times = await paired(ours, copy, reset)
    ratio = speed(times)
    return Result(
        f"bulk_create {BULK_ROWS:,} rows",
        _rate(BULK_ROWS, statistics.median(times[0]), "rows/s"),
        "asyncpg copy_records_to_table " + _rate(BULK_ROWS, statistics.median(times[1]), "rows/s"),
        ratio,
        ">= 0.70x",
        ratio >= 0.7,
    )


# -- counters on one hot row ------------------------------------------------------------------


async def bench_hot_row(db: Database, work: str) -> Result:
    async with db.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {ITEMS.name}"))
        hot = (
            await conn.execute(
                ITEMS.insert().returning(ITEMS.c.id),
                {"sku": "HOT", "name": "hot", "price": Decimal(1), "stock": 0},
            )
        ).scalar_one()

    async def run(one: Callable[[], Awaitable[None]]) -> None:
        async def task() -> None:
            for _ in range(COUNTER_CALLS):
                await one()

        await asyncio.gather(*(task() for _ in range(TASKS)))

    async def ours_one() -> None:
        async with UnitOfWork(db) as uow:
            repo = uow.repository(AsyncRepository[Item])
            if work == "increment":
                await repo.increment(hot, "hits")
            else:
                await repo.update_if(hot, {"hits__gte": 0}, hits=1)

    async def core_one() -> None:
        values: dict[str, Any] = {"updated_at": utcnow()}
        values["hits"] = ITEMS.c.hits + 1 if work == "increment" else 1
        where = [ITEMS.c.id == hot]
        if work != "increment":
            where.append(ITEMS.c.hits >= 0)
        statement = update(ITEMS).where(*where).values(values).returning(*ITEMS.c)
        async with db.engine.begin() as conn:
            (await conn.execute(statement)).one()

    times = await paired(lambda: run(ours_one), lambda: run(core_one))
    ratio = speed(times)
    calls = TASKS * COUNTER_CALLS
    return Result(
        f"{work}, {TASKS} tasks x {COUNTER_CALLS}, one hot row",
        _rate(calls, statistics.median(times[0]), "calls/s"),
        "Core UPDATE ... RETURNING in engine.begin() "
        + _rate(calls, statistics.median(times[1]), "calls/s"),
        ratio,
        ">= 0.87x",
        ratio >= 0.87,
    )


# -- sample -----------------------------------------------------------------------------------


async def bench_sample(db: Database) -> Result:
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                f"INSERT INTO {Point.__tablename__} (id, n) "
                f"SELECT g, g % 1000 FROM generate_series(1, {SAMPLE_ROWS}) AS g"
            )
        )
        await conn.execute(text(f"ANALYZE {Point.__tablename__}"))
    per_call: list[float] = []

    async def ours() -> None:
        started = time.perf_counter()
        for _ in range(SAMPLE_CALLS):
            async with UnitOfWork(db, read_only=True) as uow:
                found = await uow.repository(AsyncRepository[Point]).sample(10)
                assert len(found) == 10
        per_call.append((time.perf_counter() - started) / SAMPLE_CALLS)

    async def shuffled() -> None:
        statement = select(Point).order_by(text("random()")).limit(10)
        async with db.session() as session:
            found = (await session.scalars(statement)).all()
            assert len(found) == 10

    # one reference call is compared with one framework call (ours() makes many)
    times = await paired(ours, shuffled)
    ours_times = per_call[1:]
    ratio = statistics.median(t / o for o, t in zip(ours_times, times[1], strict=True))
    mean_call = statistics.median(ours_times)
    return Result(
        f"sample(10) of {SAMPLE_ROWS:,} rows",
        f"{mean_call * 1e3:.2f} ms a call",
        f"ORDER BY random() LIMIT 10 {statistics.median(times[1]) * 1e3:.1f} ms",
        ratio,
        ">= 100x, <= 2 ms",
        ratio >= 100 and mean_call <= 0.002,
    )


# -- reads: no regression ----------------------------------------------------------------------


async def seed_reads(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                f"INSERT INTO {Author.__tablename__} (id, name) "
                "SELECT g, 'author ' || g FROM generate_series(1, 2000) AS g"
            )
        )
        for table in (Book.__tablename__, Award.__tablename__):
            await conn.execute(
                text(
                    f"INSERT INTO {table} (author_id, title) "
                    "SELECT (g % 2000) + 1, 'title ' || g FROM generate_series(1, 10000) AS g"
                )
            )
        await conn.execute(text("ANALYZE"))


async def bench_reads(db: Database) -> list[Result]:
    results = []

    async def get_ours() -> None:
        for i in range(READ_CALLS):
            async with UnitOfWork(db, read_only=True) as uow:
                assert await uow.repository(AsyncRepository[Author]).get(i % 2000 + 1) is not None

    async def get_theirs() -> None:
        for i in range(READ_CALLS):
            async with db.session() as session:
                assert await session.get(Author, i % 2000 + 1) is not None

    ids = list(range(1, 201, 2))

    async def many_ours() -> None:
        for _ in range(READ_CALLS // 4):
            async with UnitOfWork(db, read_only=True) as uow:
                assert len(await uow.repository(AsyncRepository[Author]).get_many(ids)) == 100

    async def many_theirs() -> None:
        for _ in range(READ_CALLS // 4):
            async with db.session() as session:
                found = await session.scalars(select(Author).where(Author.id.in_(ids)))
                assert len(found.all()) == 100

    async def page_ours() -> None:
        async with UnitOfWork(db, read_only=True) as uow:
            page = await uow.repository(AsyncRepository[Author]).paginate_cursor(limit=50)
        for _ in range(PAGES):
            async with UnitOfWork(db, read_only=True) as uow:
                after = page.next_cursor
                repo = uow.repository(AsyncRepository[Author])
                page = await repo.paginate_cursor(after=after, limit=50)
                assert len(page.items) == 50

    async def page_theirs() -> None:
        last = 50
        for _ in range(PAGES):
            async with db.session() as session:
                statement = select(Author).where(Author.id > last).order_by(Author.id).limit(51)
                found = (await session.scalars(statement)).all()
                assert len(found) == 51
                last = found[49].id

    async def load_ours() -> None:
        for _ in range(READ_CALLS // 8):
            async with UnitOfWork(db, read_only=True) as uow:
                repo = uow.repository(AsyncRepository[Author])
                found = await repo.list(limit=100, load=["books", "awards"])
                assert sum(len(a.books) for a in found) > 0

    async def load_theirs() -> None:
        for _ in range(READ_CALLS // 8):
            async with db.session() as session:
                statement = (
                    select(Author)
                    .order_by(Author.id)
                    .limit(100)
                    .options(selectinload(Author.books), selectinload(Author.awards))
                )
                found = (await session.scalars(statement)).all()
                assert sum(len(a.books) for a in found) > 0

    cases = [
        ("get, a unit of work per get", "session.get", get_ours, get_theirs, None, READ_CALLS),
        ("get_many(100)", "select ... IN", many_ours, many_theirs, None, READ_CALLS // 4),
        ("keyset page of 50", "WHERE id > :last LIMIT", page_ours, page_theirs, None, PAGES),
        ("list(limit=100, load=2 collections)", "selectinload", load_ours, load_theirs, 1 / 1.1,
         READ_CALLS // 8),
    ]  # fmt: skip
    for work, reference, ours, theirs, floor, calls in cases:
        times = await paired(ours, theirs)
        ratio = speed(times)
        results.append(
            Result(
                work,
                f"{statistics.median(times[0]) / calls * 1e6:,.0f} us a call",
                f"{reference} {statistics.median(times[1]) / calls * 1e6:,.0f} us a call",
                ratio,
                ">= 0.91x" if floor else "no regression",
                ratio >= floor if floor else None,
            )
        )
    return results


# -- the run -----------------------------------------------------------------------------------


async def _admin(sql: str, database: str | None = None) -> None:
    url = make_url(POSTGRES_URL).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    dsn = url.render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def print_results(results: list[Result]) -> None:
    """Print the table: work, framework, hand-written, ratio, target, met?"""
    print(f"\n## limits: the framework against hand-written code (PostgreSQL, {ROUNDS} rounds)\n")
    print("| work | framework | hand-written | ratio | target | met? |")
    print("|---|---|---|---|---|---|")
    for r in results:
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        print(
            f"| {r.work} | {r.framework} | {r.reference} | {r.ratio:.2f}x | {r.target} | {met} |"
        )


async def main() -> None:
    """Run every case on a private PostgreSQL database; print one table."""
    name = f"bench_limits_{uuid.uuid4().hex[:10]}"
    await _admin(f'CREATE DATABASE "{name}"')
    db = Database(make_url(POSTGRES_URL).set(database=name), pool_size=POOL_SIZE, max_overflow=0)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(LimitsBase.metadata.create_all)
        await seed_reads(db)
        chosen = os.environ.get("ORM_BENCH_CASES", "upsert,bulk,increment,update_if,sample,reads")
        results: list[Result] = []
        for case in chosen.split(","):
            if case == "upsert":
                results.append(await bench_upsert(db))
            elif case == "bulk":
                results.append(await bench_bulk_create(db))
            elif case in ("increment", "update_if"):
                results.append(await bench_hot_row(db, case))
            elif case == "sample":
                results.append(await bench_sample(db))
            elif case == "reads":
                results.extend(await bench_reads(db))
            # the dead rows a case leaves are cleaned up now, untimed, not by an autovacuum
            # worker competing with the next case for the CPU
            await _admin("VACUUM ANALYZE", database=name)
        print_results(results)
    finally:
        await db.dispose()
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
