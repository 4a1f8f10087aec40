"""Read-side benchmark on PostgreSQL with 1,000,000 rows.

Builds `bench_read_items` once, in its own database `orm_bench_reads`, with
`INSERT ... SELECT generate_series` (keys 1..1,100,000 with every 11th missing, so
sampling meets gaps), and reuses it on later runs. Compares, as ratios:

- `sample(10)` against `ORDER BY random() LIMIT 10`;
- `paginate_cursor` at the position of page 45,000 against `paginate(page=45_000)`;
- `paginate` count modes: exact, estimate, none;
- memory: RSS growth while `stream` walks every row.

Run: `python -m benchmarks reads` (ORM_BENCH_POSTGRES_URL picks the server).
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import asyncpg
from sqlalchemy import String, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from benchmarks.common import POSTGRES_URL, Row, median_time, print_table
from orm_core import Database, UnitOfWork
from orm_core.cursor import encode_cursor
from orm_repositories import AsyncRepository

DATABASE = "orm_bench_reads"
ROWS = 1_000_000
KEY_SPAN = 1_100_000
DEEP_PAGE = 45_000
PAGE_SIZE = 20


class BenchBase(DeclarativeBase):
    pass


class Item(BenchBase):
    __tablename__ = "bench_read_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(50))
    price: Mapped[Decimal] = mapped_column()
    stock: Mapped[int] = mapped_column(default=0)
    category: Mapped[str | None] = mapped_column(String(10))


class BenchUoW(UnitOfWork):
    items: AsyncRepository[Item]


def _url(database: str) -> str:
    return make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)


def _dsn(database: str) -> str:
    url = make_url(POSTGRES_URL).set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


async def _ensure_database() -> None:
    conn = await asyncpg.connect(_dsn(make_url(POSTGRES_URL).database or "postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()


async def _ensure_table(db: Database) -> None:
    async with db.engine.begin() as conn:
        present = await conn.scalar(text("SELECT to_regclass('bench_read_items') IS NOT NULL"))
        if present and await conn.scalar(text("SELECT count(*) FROM bench_read_items")) == ROWS:
            return
        print(f"building bench_read_items with {ROWS:,} rows ...", flush=True)
        await conn.run_sync(BenchBase.metadata.drop_all)
        await conn.run_sync(BenchBase.metadata.create_all)
        await conn.execute(
            text(
                "INSERT INTO bench_read_items (id, sku, name, price, stock, category) "
                "SELECT i, 'SKU-' || i, 'Item ' || i, (i % 10000) / 100.0, i % 50, "
                "(ARRAY['a','b','c','d', NULL])[1 + i % 5] "
                "FROM generate_series(1, :span) AS i WHERE i % 11 <> 0"
            ),
            {"span": KEY_SPAN},
        )
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE bench_read_items"))


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def _stream_memory(db: Database) -> list[Row]:
    rows: list[Row] = []
    async with BenchUoW(db, read_only=True) as uow:
        await uow.items.get(1)  # warm the connection and the mapper
        baseline = peak = _rss_mb()
        started = time.perf_counter()
        seen = 0
        async for _item in uow.items.stream(batch_size=1000):
            seen += 1
            if seen % 10_000 == 0:
                peak = max(peak, _rss_mb())
        elapsed = time.perf_counter() - started
    assert seen == ROWS, seen
    growth = peak - baseline
    rows.append(Row("stream all 1,000,000 rows", "stream(batch_size=1000)", elapsed, None,
                    f"peak RSS growth {growth:.1f} MB (target <= 50 MB)"))  # fmt: skip
    async with BenchUoW(db, read_only=True) as uow:
        baseline = _rss_mb()
        started = time.perf_counter()
        loaded = await uow.items.list(limit=100_000)
        elapsed = time.perf_counter() - started
        growth_list = _rss_mb() - baseline
        del loaded
    rows.append(Row("reference: list() 100,000 rows", "list(limit=100_000)", elapsed, None,
                    f"RSS growth {growth_list:.1f} MB for a tenth of the rows"))  # fmt: skip
    return rows


async def _sampling(db: Database) -> list[Row]:
    async def naive() -> object:
        async with BenchUoW(db, read_only=True) as uow:
            stmt = select(Item).order_by(func.random()).limit(10)
            return (await uow.session.execute(stmt)).scalars().all()

    async def sample() -> object:
        async with BenchUoW(db, read_only=True) as uow:
            found = await uow.items.sample(10)
            assert len(found) == 10
            return found

    async def one() -> object:
        async with BenchUoW(db, read_only=True) as uow:
            return await uow.items.random()

    base = await median_time(naive, repeat=5)
    rows = [
        Row("10 random rows, own unit of work", "ORDER BY random() LIMIT 10", base, base),
        Row("10 random rows, own unit of work", "sample(10)", await median_time(sample, repeat=21),
            base),
        Row("10 random rows, own unit of work", "random() (one row)",
            await median_time(one, repeat=21), base),
    ]
    # The same statements inside one open unit of work: no BEGIN/ROLLBACK per call.
    async with BenchUoW(db, read_only=True) as uow:
        stmt = select(Item).order_by(func.random()).limit(10)

        async def naive_inside() -> object:
            return (await uow.session.execute(stmt)).scalars().all()

        async def sample_inside() -> object:
            return await uow.items.sample(10)

        inside = await median_time(naive_inside, repeat=5)
        rows.append(Row("10 random rows, one open unit", "ORDER BY random() LIMIT 10", inside,
                        inside))  # fmt: skip
        rows.append(Row("10 random rows, one open unit", "sample(10)",
                        await median_time(sample_inside, repeat=21), inside))  # fmt: skip
    return rows


async def _deep_pages(db: Database) -> list[Row]:
    offset = (DEEP_PAGE - 1) * PAGE_SIZE
    async with BenchUoW(db, read_only=True) as uow:
        before = (
            await uow.session.execute(
                select(Item.id).order_by(Item.id).offset(offset - 1).limit(1)
            )
        ).scalar_one()
        expected = [i.id for i in (await uow.items.paginate(page=DEEP_PAGE)).items]
        cursor = encode_cursor("bench_read_items:Item", ["id"], [before])
        got = [i.id for i in (await uow.items.paginate_cursor(after=cursor)).items]
    assert got == expected, (got[:3], expected[:3])

    async def offset_page() -> object:
        async with BenchUoW(db, read_only=True) as uow:
            return await uow.items.paginate(page=DEEP_PAGE, page_size=PAGE_SIZE)

    async def offset_page_no_count() -> object:
        async with BenchUoW(db, read_only=True) as uow:
            return await uow.items.paginate(page=DEEP_PAGE, page_size=PAGE_SIZE, count="none")

    async def keyset_page() -> object:
        async with BenchUoW(db, read_only=True) as uow:
            return await uow.items.paginate_cursor(after=cursor, limit=PAGE_SIZE)

    base = await median_time(offset_page, repeat=5)
    case = f"page {DEEP_PAGE:,} x {PAGE_SIZE}"
    return [
        Row(case, "paginate(page=45000)", base, base, "COUNT + OFFSET 899,980"),
        Row(
            case,
            "paginate(page=45000, count='none')",
            await median_time(offset_page_no_count),
            base,
            "OFFSET only",
        ),
        Row(case, "paginate_cursor(after=...)", await median_time(keyset_page, repeat=21), base),
    ]


async def _count_modes(db: Database) -> list[Row]:
    rows: list[Row] = []
    for label, lookups in (("page 1 of all rows", {}), ("page 1, category='c'", {"category": "c"})):
        totals: dict[str, object] = {}

        def make(
            mode: str, lookups: dict[str, object] = lookups, totals: dict[str, object] = totals
        ) -> object:
            async def run() -> object:
                async with BenchUoW(db, read_only=True) as uow:
                    page = await uow.items.paginate(page_size=PAGE_SIZE, count=mode, **lookups)
                    totals[mode] = page.total
                    return page

            return run

        base = await median_time(make("exact"), repeat=7)
        for mode in ("exact", "estimate", "none"):
            seconds = base if mode == "exact" else await median_time(make(mode), repeat=21)
            rows.append(Row(label, f"count={mode!r}", seconds, base, f"total={totals[mode]}"))
    return rows


def _speedups(rows: list[Row]) -> list[Row]:
    """Note how many times faster than the baseline each variant ran."""
    for row in rows:
        if row.baseline and row.seconds < row.baseline:
            speed = f"{row.baseline / row.seconds:.0f}x faster"
            row.note = f"{row.note}; {speed}" if row.note else speed
    return rows


async def main() -> None:
    """Build (or reuse) the table and print the read benchmarks."""
    await _ensure_database()
    db = Database(_url(DATABASE), pool_size=2)
    try:
        await _ensure_table(db)
        print_table("stream memory (1,000,000 rows)", await _stream_memory(db))
        print_table("sample vs ORDER BY random()", _speedups(await _sampling(db)))
        print_table("deep page: keyset vs offset", _speedups(await _deep_pages(db)))
        print_table("paginate count modes (1,000,000 rows)", _speedups(await _count_modes(db)))
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
