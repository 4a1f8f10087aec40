"""Compare repository calls with hand-written SQLAlchemy, on PostgreSQL and SQLite.

Every case runs its variants in the same process, interleaved round by round (the
order rotates each round), with one untimed warm-up round. The `median` column is
the median time of one call (or one batch for the bulk cases); the `ratio` column is
the median over rounds of (variant time / baseline time in the same round), so a slow
moment of the shared machine hits both sides of a ratio alike. The note's `cpu` figure
is the same paired ratio for this process's CPU time: the client-side work (framework,
SQLAlchemy, driver; SQLite's engine too, as it runs in-process), which other load on
the machine disturbs much less than wall time.

PostgreSQL runs in a private database created for the run (`bench_core_<random>` next
to the one in `ORM_BENCH_POSTGRES_URL`) and dropped afterwards; SQLite runs on a temp
file. `ORM_BENCH_ROUNDS` sets the number of timed rounds (default 15; half of that for
the bulk cases).
"""

from __future__ import annotations

import itertools
import os
import random
import statistics
import tempfile
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import asyncpg
from sqlalchemy import Numeric, String, Table, func, insert, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from benchmarks.common import POSTGRES_URL, Row, print_table
from orm_core import Database, TimestampMixin, UnitOfWork
from orm_repositories import AsyncRepository

ROUNDS = int(os.environ.get("ORM_BENCH_ROUNDS", "15"))
BULK_ROUNDS = max(3, ROUNDS // 2)
SEED_ROWS = 10_000
BULK_ROWS = 10_000
CATEGORIES = [f"c{n}" for n in range(10)]
WITHIN = "target <= 1.10x"
GUIDE = "no target; 1.10x as a guide"


class BenchBase(DeclarativeBase):
    """A declarative base of its own, so the benchmark table never meets the test models."""


class BenchProduct(TimestampMixin, BenchBase):
    __tablename__ = "bench_products"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    stock: Mapped[int] = mapped_column(default=0)
    category: Mapped[str | None] = mapped_column(String(50), index=True)


BENCH_TABLE = cast(Table, BenchProduct.__table__)


class BenchProductRepository(AsyncRepository[BenchProduct]):
    pass


class BenchUnitOfWork(UnitOfWork):
    products: BenchProductRepository


# -- measurement ---------------------------------------------------------------------


@dataclass
class Variant:
    """One way of doing a case's work: `run(inputs)` is timed, `reset()` is not."""

    name: str
    run: Callable[[Any], Awaitable[object]]
    ops: int
    reset: Callable[[], Awaitable[object]] | None = None


@dataclass
class Target:
    """A goal for `variant` against `versus`: a time ratio of at most `max_ratio`."""

    variant: str
    versus: str
    max_ratio: float
    wording: str
    as_speedup: bool = False


@dataclass
class Case:
    name: str
    variants: list[Variant]
    prepare: Callable[[], Any]
    targets: list[Target] = field(default_factory=list)
    rows_per_op: int | None = None  # bulk cases show rows/s
    rounds: int = ROUNDS


@dataclass
class Outcome:
    case: Case
    per_op: dict[str, list[float]]  # wall time of one call, per round
    cpu_per_op: dict[str, list[float]]  # this process's CPU time of one call, per round

    def median(self, name: str) -> float:
        return statistics.median(self.per_op[name])

    def ratio(self, name: str, versus: str) -> float:
        """Median over rounds of the paired wall-time ratio name/versus."""
        return _paired(self.per_op[name], self.per_op[versus])

    def cpu_ratio(self, name: str, versus: str) -> float:
        """The same for client CPU time: less sensitive to other load on the machine."""
        return _paired(self.cpu_per_op[name], self.cpu_per_op[versus])


def _paired(values: list[float], baselines: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(values, baselines, strict=True))


async def measure(case: Case) -> Outcome:
    """Run every variant once per round, rotating the order; keep per-call times."""
    per_op: dict[str, list[float]] = {v.name: [] for v in case.variants}
    cpu_per_op: dict[str, list[float]] = {v.name: [] for v in case.variants}
    variants = case.variants
    for round_no in range(case.rounds + 1):
        inputs = case.prepare()
        shift = round_no % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            cpu_started = time.process_time()
            started = time.perf_counter()
            await variant.run(inputs)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            if variant.reset is not None:
                await variant.reset()
            if round_no:  # round 0 warms caches, pools and statement caches up
                per_op[variant.name].append(elapsed / variant.ops)
                cpu_per_op[variant.name].append(cpu / variant.ops)
    return Outcome(case, per_op, cpu_per_op)


def table_rows(outcome: Outcome) -> list[Row]:
    case = outcome.case
    baseline = case.variants[0].name
    rows: list[Row] = []
    for variant in case.variants:
        seconds = outcome.median(variant.name)
        ratio = outcome.ratio(variant.name, baseline)
        notes = []
        if variant.name != baseline:
            notes.append(f"cpu {outcome.cpu_ratio(variant.name, baseline):.2f}x")
        if case.rows_per_op:
            notes.append(f"{case.rows_per_op / seconds:,.0f} rows/s")
        for target in case.targets:
            if target.variant == variant.name:
                notes.append(verdict(outcome, target)[1])
        # baseline chosen so that Row.ratio prints the paired median ratio
        baseline_seconds = seconds / ratio if ratio else None
        rows.append(Row(case.name, variant.name, seconds, baseline_seconds, "; ".join(notes)))
    return rows


def verdict(outcome: Outcome, target: Target) -> tuple[bool, str]:
    ratio = outcome.ratio(target.variant, target.versus)
    met = ratio <= target.max_ratio
    shown = f"{1 / ratio:.1f}x faster" if target.as_speedup else f"{ratio:.2f}x"
    if target.as_speedup and "rows/s" in target.wording:
        shown = f"{1 / ratio:.2f}x the rows/s"
    return met, f"{target.wording}: {shown} {'MET' if met else 'MISSED'}"


# -- cases ---------------------------------------------------------------------------


class Bench:
    """The cases, bound to one database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sessions = db.session_factory
        self.rng = random.Random(20240607)
        self.sku_numbers = itertools.count()
        self.max_id = SEED_ROWS

    def sku(self) -> str:
        return f"N-{next(self.sku_numbers)}"

    async def seed(self) -> None:
        await self.db.create_all(BenchBase.metadata)
        rng = random.Random(1)
        rows = [
            {
                "sku": f"S-{n}",
                "name": f"product {n}",
                "price": Decimal(rng.randint(100, 10_000)) / 100,
                "stock": rng.randint(0, 500),
                "category": CATEGORIES[n % len(CATEGORIES)],
            }
            for n in range(SEED_ROWS)
        ]
        async with self.db.engine.begin() as conn:
            await conn.execute(insert(BENCH_TABLE), rows)
            if self.db.dialect == "postgresql":
                await conn.execute(text("ANALYZE bench_products"))

    def random_ids(self, n: int) -> list[int]:
        return self.rng.sample(range(1, self.max_id + 1), n)

    def get_by_id(self, n: int = 100) -> Case:
        async def hand(ids: list[int]) -> None:
            for i in ids:
                async with self.sessions() as s, s.begin():
                    await s.get(BenchProduct, i)

        async def repository(ids: list[int]) -> None:
            for i in ids:
                async with UnitOfWork(self.db) as uow:
                    await uow.repository(BenchProduct).get(i)

        async def annotated(ids: list[int]) -> None:
            for i in ids:
                async with BenchUnitOfWork(self.db) as uow:
                    await uow.products.get(i)

        async def repo_in_session(ids: list[int]) -> None:
            for i in ids:
                async with self.sessions() as s, s.begin():
                    await BenchProductRepository(s).get(i)

        return Case(
            "get by id",
            [
                Variant("hand: session.get", hand, n),
                Variant("uow.repository(Model).get", repository, n),
                Variant("uow.products.get (annotated)", annotated, n),
                Variant("repo.get on a hand session", repo_in_session, n),
            ],
            lambda: self.random_ids(n),
            [
                Target("uow.repository(Model).get", "hand: session.get", 1.10, WITHIN),
                Target("uow.products.get (annotated)", "hand: session.get", 1.10, WITHIN),
            ],
        )

    def list_two_lookups(self, n: int = 50) -> Case:
        async def hand(cats: list[str]) -> None:
            for cat in cats:
                async with self.sessions() as s, s.begin():
                    stmt = (
                        select(BenchProduct)
                        .where(BenchProduct.category == cat, BenchProduct.price > 10)
                        .limit(50)
                    )
                    (await s.execute(stmt)).scalars().all()

        async def repository(cats: list[str]) -> None:
            for cat in cats:
                async with UnitOfWork(self.db) as uow:
                    await uow.repository(BenchProduct).list(category=cat, price__gt=10, limit=50)

        return Case(
            "list, two lookups, limit 50",
            [
                Variant("hand: select().where().limit()", hand, n),
                Variant("repository.list(**lookups)", repository, n),
            ],
            lambda: [self.rng.choice(CATEGORIES) for _ in range(n)],
            [Target("repository.list(**lookups)", "hand: select().where().limit()", 1.10, WITHIN)],
        )

    def paginate(self, n: int = 50) -> Case:
        async def hand(cats: list[str]) -> None:
            for cat in cats:
                async with self.sessions() as s, s.begin():
                    where = (BenchProduct.category == cat,)
                    count = select(func.count()).select_from(BenchProduct).where(*where)
                    (await s.execute(count)).scalar_one()
                    page = (
                        select(BenchProduct)
                        .where(*where)
                        .order_by(BenchProduct.id)
                        .limit(20)
                        .offset(40)
                    )
                    (await s.execute(page)).scalars().all()

        async def repository(cats: list[str]) -> None:
            for cat in cats:
                async with UnitOfWork(self.db) as uow:
                    await uow.repository(BenchProduct).paginate(category=cat, page=3, page_size=20)

        return Case(
            "paginate page 3 of 20, one lookup",
            [
                Variant("hand: count + select", hand, n),
                Variant("repository.paginate", repository, n),
            ],
            lambda: [self.rng.choice(CATEGORIES) for _ in range(n)],
            [Target("repository.paginate", "hand: count + select", 1.10, GUIDE)],
        )

    def create(self, n: int = 60) -> Case:
        def values() -> dict[str, Any]:
            return {"sku": self.sku(), "name": "new", "price": Decimal("9.99"), "category": "new"}

        async def hand(inputs: None) -> None:
            for _ in range(n):
                async with self.sessions() as s, s.begin():
                    s.add(BenchProduct(**values()))

        async def repository(inputs: None) -> None:
            for _ in range(n):
                async with UnitOfWork(self.db) as uow:
                    await uow.repository(BenchProduct).create(**values())

        return Case(
            "create, one row per unit of work",
            [
                Variant("hand: session.add + commit", hand, n),
                Variant("repository.create", repository, n),
            ],
            lambda: None,
            [Target("repository.create", "hand: session.add + commit", 1.10, GUIDE)],
        )

    def get_many(self, n_many: int = 10, n_single: int = 2) -> Case:
        async def hand(batches: list[list[int]]) -> None:
            for ids in batches[:n_many]:
                async with self.sessions() as s, s.begin():
                    stmt = select(BenchProduct).where(BenchProduct.id.in_(ids))
                    (await s.execute(stmt)).scalars().all()

        async def repository(batches: list[list[int]]) -> None:
            for ids in batches[:n_many]:
                async with UnitOfWork(self.db) as uow:
                    await uow.repository(BenchProduct).get_many(ids)

        async def one_by_one(batches: list[list[int]]) -> None:
            for ids in batches[:n_single]:
                async with UnitOfWork(self.db) as uow:
                    repo = uow.repository(BenchProduct)
                    for i in ids:
                        await repo.get(i)

        return Case(
            "100 rows by id",
            [
                Variant("hand: select where id in (...)", hand, n_many),
                Variant("repository.get_many(100 ids)", repository, n_many),
                Variant("100 x repository.get, one uow", one_by_one, n_single),
            ],
            lambda: [self.random_ids(100) for _ in range(n_many)],
            [
                Target(
                    "repository.get_many(100 ids)",
                    "100 x repository.get, one uow",
                    0.10,
                    "target >= 10x faster than 100 gets",
                    as_speedup=True,
                ),
                Target(
                    "repository.get_many(100 ids)",
                    "hand: select where id in (...)",
                    1.10,
                    "vs hand-written IN: guide <= 1.10x",
                ),
            ],
        )

    def bulk_insert(self) -> Case:
        table = BENCH_TABLE
        columns = ["sku", "name", "price", "stock", "category", "created_at", "updated_at"]

        def prepare() -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
            stamp = next(self.sku_numbers)
            now = datetime.now(UTC)
            rows = [
                {
                    "sku": f"B-{stamp}-{n}",
                    "name": f"bulk {n}",
                    "price": Decimal(n % 9000 + 100) / 100,
                    "stock": n % 50,
                    "category": "bulk",
                }
                for n in range(BULK_ROWS)
            ]
            records = [(*row.values(), now, now) for row in rows]
            return rows, records

        async def add_all(inputs: Any) -> None:
            rows, _ = inputs
            async with self.sessions() as s, s.begin():
                s.add_all([BenchProduct(**row) for row in rows])
                await s.flush()

        async def core(inputs: Any) -> None:
            rows, _ = inputs
            async with self.db.engine.begin() as conn:
                await conn.execute(insert(table), rows)

        async def copy(inputs: Any) -> None:
            _, records = inputs
            async with self.db.engine.begin() as conn:
                raw = await conn.get_raw_connection()
                await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                    "bench_products", records=records, columns=columns
                )

        async def repository(inputs: Any) -> None:
            rows, _ = inputs
            async with UnitOfWork(self.db) as uow:
                await uow.repository(BenchProduct).bulk_create(rows)

        async def reset() -> None:
            async with self.db.engine.begin() as conn:
                await conn.execute(table.delete().where(table.c.category == "bulk"))

        variants = [
            Variant("hand: add_all + flush", add_all, 1, reset),
            Variant("hand: Core insert() executemany", core, 1, reset),
            Variant("repository.bulk_create", repository, 1, reset),
        ]
        targets = [
            Target("repository.bulk_create", "hand: add_all + flush", 0.2,
                   "target >= 5x faster than add_all", as_speedup=True),
            Target("repository.bulk_create", "hand: Core insert() executemany", 1.10,
                   "vs Core executemany: guide <= 1.10x"),
        ]  # fmt: skip
        if self.db.dialect == "postgresql":
            variants.insert(2, Variant("hand: asyncpg copy_records_to_table", copy, 1, reset))
            targets.append(
                Target("repository.bulk_create", "hand: asyncpg copy_records_to_table", 1 / 0.6,
                       "target >= 0.6x of COPY rows/s", as_speedup=True)
            )  # fmt: skip
        return Case(
            f"bulk insert {BULK_ROWS:,} rows", variants, prepare, targets,
            rows_per_op=BULK_ROWS, rounds=BULK_ROUNDS,
        )  # fmt: skip

    def cases(self) -> list[Case]:
        return [
            self.get_by_id(),
            self.list_two_lookups(),
            self.paginate(),
            self.create(),
            self.get_many(),
            self.bulk_insert(),
        ]


# -- databases -----------------------------------------------------------------------


def _plain_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(_plain_dsn(POSTGRES_URL), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def run_on(label: str, db: Database) -> list[tuple[str, Target, bool, str]]:
    """Seed, measure every case, print the table; return the target verdicts."""
    bench = Bench(db)
    await bench.seed()
    rows: list[Row] = []
    verdicts: list[tuple[str, Target, bool, str]] = []
    for case in bench.cases():
        outcome = await measure(case)
        rows.extend(table_rows(outcome))
        for target in case.targets:
            met, text_ = verdict(outcome, target)
            verdicts.append((case.name, target, met, text_))
    print_table(f"core: repository vs hand-written SQLAlchemy on {label}", rows)
    return verdicts


async def run_postgres() -> list[tuple[str, Target, bool, str]]:
    name = f"bench_core_{uuid.uuid4().hex[:12]}"
    try:
        await _admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        print(f"\nPostgreSQL skipped: cannot create a database at {POSTGRES_URL}: {exc}")
        return []
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    try:
        return await run_on("PostgreSQL", db)
    finally:
        await db.dispose()
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def run_sqlite() -> list[tuple[str, Target, bool, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{tmp}/bench.db")
        try:
            return await run_on("SQLite (temp file)", db)
        finally:
            await db.dispose()


def print_verdicts(results: Sequence[tuple[str, list[tuple[str, Target, bool, str]]]]) -> None:
    print("\n## targets\n")
    for label, verdicts in results:
        for case, target, met, wording in verdicts:
            if wording.startswith(("no target", "vs ")):
                continue
            print(f"- [{'x' if met else ' '}] {label}: {case}: {target.variant} -- {wording}")


async def main() -> None:
    """Run every case on PostgreSQL, then on SQLite, and list which targets are met."""
    warnings.filterwarnings("ignore", ".*Decimal objects natively.*", sa_exc.SAWarning)
    results = [("PostgreSQL", await run_postgres()), ("SQLite", await run_sqlite())]
    print_verdicts(results)
