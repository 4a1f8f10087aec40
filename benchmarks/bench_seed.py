"""Seeding 100,000 rows on PostgreSQL: `orm db seed`, the `seed()` API, plain `bulk_create`.

The baseline inserts rows built beforehand through `bulk_create` (insert cost only);
`seed()` adds generating fake values with Faker; the command line adds process start-up,
imports and the progress bar. Runs in a private database (`bench_seed_<random>`) next to
ORM_BENCH_POSTGRES_URL, dropped at the end.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from benchmarks.common import POSTGRES_URL, Row, print_table
from orm_core import Database, UnitOfWork
from orm_repositories import AsyncRepository
from orm_repositories.seeding import ModelFactory, seed

ROWS = int(os.environ.get("ORM_BENCH_SEED_ROWS", "100000"))
ROUNDS = int(os.environ.get("ORM_BENCH_ROUNDS", "3"))
MODELS = """
from sqlalchemy import MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from orm_core import NAMING_CONVENTION, TimestampMixin
from orm_core import Base as OrmBase


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = OrmBase.type_annotation_map


class Customer(TimestampMixin, Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(80))
"""


async def _admin(sql: str) -> None:
    dsn = make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _load_models(directory: Path) -> Any:
    path = directory / "bench_seed_models.py"
    path.write_text(MODELS)
    spec = importlib.util.spec_from_file_location("bench_seed_models", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _reset(database: Database) -> None:
    await database.execute("TRUNCATE customers RESTART IDENTITY")


async def _count(database: Database) -> int:
    row = await database.fetch_one("SELECT count(*) AS n FROM customers")
    assert row is not None
    return int(row["n"])


async def _timed(database: Database, work: Any) -> float:
    await _reset(database)
    started = time.perf_counter()
    await work()
    elapsed = time.perf_counter() - started
    count = await _count(database)
    assert count == ROWS, f"expected {ROWS} rows, found {count}"
    return elapsed


async def main() -> None:
    """Print one table: median seconds and rows/s per variant, as ratios to the baseline."""
    name = f"bench_seed_{uuid.uuid4().hex[:10]}"
    try:
        await _admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        print(f"\nPostgreSQL unreachable ({exc}); seeding benchmark skipped")
        return
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    database = Database(url)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            models = _load_models(Path(tmp))
            await database.create_all(models.Base.metadata)
            await _run(database, models, url, Path(tmp))
    finally:
        await database.dispose()
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _run(database: Database, models: Any, url: str, directory: Path) -> None:
    customer = models.Customer
    samples: dict[str, list[float]] = {"baseline": [], "api": [], "cli": []}
    bar = ""
    for _ in range(ROUNDS):
        prebuilt = ModelFactory.for_model(customer)().build_rows(ROWS)

        async def baseline(rows: list[dict[str, Any]] = prebuilt) -> None:
            async with UnitOfWork(database) as uow:
                await AsyncRepository.for_model(customer)(uow.session).bulk_create(rows)

        async def api() -> None:
            await seed(database, customer, ROWS)

        samples["baseline"].append(await _timed(database, baseline))
        samples["api"].append(await _timed(database, api))

        async def cli() -> None:
            nonlocal bar
            result = await asyncio.to_thread(
                subprocess.run,
                [str(Path(sys.executable).with_name("orm")), "db", "seed", "Customer",
                 "--count", str(ROWS), "--url", url, "--models", "bench_seed_models:Base"],
                cwd=directory, capture_output=True, text=True, check=True,
            )  # fmt: skip
            bar = result.stderr.strip().splitlines()[-1] + "\n" + result.stdout.strip()

        samples["cli"].append(await _timed(database, cli))

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    base = median(samples["baseline"])
    labels = {
        "baseline": "bulk_create, rows prebuilt",
        "api": "seed() (Faker + bulk_create)",
        "cli": "orm db seed (new process)",
    }
    rows = [
        Row(
            f"seed {ROWS:,} rows (PostgreSQL)",
            labels[key],
            median(values),
            None if key == "baseline" else base,
            f"{ROWS / median(values):,.0f} rows/s",
        )
        for key, values in samples.items()
    ]
    print_table(f"Seeding ({ROUNDS} rounds, median)", rows)
    print(f"\nlast command-line run:\n{bar}")
