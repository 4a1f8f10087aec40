"""What write events and the audit trail cost: `bulk_create` of 100,000 rows, three ways.

- plain: a model nobody listens to (the COPY / compiled executemany fast path);
- events: the same model with `before_create` and `after_create` handlers registered (the
  insert returns the new keys so `after_create` can report them);
- audited: an `AuditMixin` model (the new keys come back and one `orm_audit_log` row per
  entity is inserted in the same transaction);
- audited, hand-written: the same two tables written with the driver directly (keys from
  the sequence, audit JSON from `json.dumps`, COPY / executemany): the floor an audited
  insert can reach.

Each variant runs in its own unit of work, as users call it, on PostgreSQL (database
`orm_bench_events`) and SQLite; the tables are emptied between runs, outside the timing.
Printed as ratios of the plain call in the same run. Run: `python -m benchmarks events`.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import String, Table, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from benchmarks.common import POSTGRES_URL, Row, print_table
from orm_core import AuditLog, AuditMixin, Database, UnitOfWork, WriteEvent, off, on
from orm_repositories import AsyncRepository

DATABASE = "orm_bench_events"
ROWS = 100_000
REPEAT = 3


class EventsBase(DeclarativeBase):
    """A declarative base of its own, so the benchmark tables never meet the test models."""


class Entry(EventsBase):
    __tablename__ = "bench_event_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal]
    memo: Mapped[str | None] = mapped_column(String(200))


class AuditedEntry(AuditMixin, EventsBase):
    __tablename__ = "bench_event_audited_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal]
    memo: Mapped[str | None] = mapped_column(String(200))


AUDIT_TABLE: Table = AuditLog.__table__  # type: ignore[assignment]


def _rows() -> list[dict[str, Any]]:
    return [
        {"account": f"acct-{i % 500}", "amount": Decimal(i % 10_000) / 100, "memo": f"entry {i}"}
        for i in range(ROWS)
    ]


async def _ensure_database() -> None:
    url = make_url(POSTGRES_URL).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()


async def _prepare(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(EventsBase.metadata.drop_all)
        await conn.run_sync(lambda c: AUDIT_TABLE.drop(c, checkfirst=True))
        await conn.run_sync(EventsBase.metadata.create_all)
        await conn.run_sync(lambda c: AUDIT_TABLE.create(c))


async def _empty(db: Database) -> None:
    async with db.engine.begin() as conn:
        for table in (*EventsBase.metadata.sorted_tables, AUDIT_TABLE):
            await conn.execute(text(f"DELETE FROM {table.name}"))
    if db.dialect == "postgresql":
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM"))


async def _timed(db: Database, model: type, rows: list[dict[str, Any]]) -> float:
    samples = []
    for _ in range(REPEAT):
        await _empty(db)
        started = time.perf_counter()
        async with UnitOfWork(db) as uow:
            inserted = await uow.repository(AsyncRepository[model]).bulk_create(rows)
        samples.append(time.perf_counter() - started)
        assert inserted == ROWS
    return statistics.median(samples)


async def _hand_written(db: Database, rows: list[dict[str, Any]]) -> float:
    """Entries and their audit rows written by hand, the way a careful developer would."""
    samples = []
    columns = ["id", "account", "amount", "memo"]
    audit_columns = ["model", "pk", "action", "changes", "actor", "tenant", "at"]
    for _ in range(REPEAT):
        await _empty(db)
        started = time.perf_counter()
        async with db.engine.begin() as conn:
            now = datetime.now(UTC)
            if db.dialect == "postgresql":
                ids = await conn.scalar(
                    text(
                        "SELECT array_agg(nextval('bench_event_audited_entries_id_seq')) "
                        "FROM generate_series(1, :n)"
                    ),
                    {"n": len(rows)},
                )
            else:
                start = await conn.scalar(
                    text("SELECT coalesce(max(id), 0) FROM bench_event_audited_entries")
                )
                ids = range(start + 1, start + 1 + len(rows))
            entries = [
                (i, r["account"], r["amount"], r["memo"]) for i, r in zip(ids, rows, strict=True)
            ]
            audit = [
                ("bench_event_audited_entries", str(e[0]), "create",
                 json.dumps({"id": {"new": e[0]}, "account": {"new": e[1]},
                             "amount": {"new": str(e[2])}, "memo": {"new": e[3]}}),
                 None, None, now)
                for e in entries
            ]  # fmt: skip
            if db.dialect == "postgresql":
                raw: Any = (await conn.get_raw_connection()).driver_connection
                await raw.copy_records_to_table(
                    "bench_event_audited_entries", records=entries, columns=columns
                )
                await raw.copy_records_to_table(
                    "orm_audit_log", records=audit, columns=audit_columns
                )
            else:
                stamp = now.replace(tzinfo=None).isoformat(" ")
                await conn.exec_driver_sql(
                    "INSERT INTO bench_event_audited_entries (id, account, amount, memo) "
                    "VALUES (?, ?, ?, ?)",
                    [(i, a, float(m), memo) for i, a, m, memo in entries],
                )
                await conn.exec_driver_sql(
                    "INSERT INTO orm_audit_log (model, pk, action, changes, actor, tenant, at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(*a[:-1], stamp) for a in audit],
                )
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def _run(label: str, db: Database) -> list[Row]:
    rows = _rows()
    await _prepare(db)
    plain = await _timed(db, Entry, rows)
    seen = [0]

    def count(event: WriteEvent) -> None:
        seen[0] += len(event.rows)

    on("before_create", Entry)(count)
    on("after_create", Entry)(count)
    try:
        events = await _timed(db, Entry, rows)
    finally:
        off(count)
    assert seen[0] == 2 * ROWS * REPEAT
    audited = await _timed(db, AuditedEntry, rows)
    async with db.engine.connect() as conn:
        trail = await conn.scalar(text("SELECT count(*) FROM orm_audit_log"))
    assert trail == ROWS
    by_hand = await _hand_written(db, rows)
    case = f"{label}: bulk_create {ROWS:,}"
    return [
        Row(case, "plain", plain, plain),
        Row(case, "events registered", events, plain, "before/after_create handlers"),
        Row(case, "audited model", audited, plain, "target: within 2x of plain"),
        Row(case, "audited, hand-written", by_hand, plain, "COPY/executemany of both tables"),
        Row(case, "audited model vs hand-written", audited, by_hand, "ratio to hand-written"),
    ]


async def main() -> None:
    """Print the cost of events and auditing on PostgreSQL and SQLite."""
    await _ensure_database()
    postgres = Database(make_url(POSTGRES_URL).set(database=DATABASE))
    try:
        results = await _run("PostgreSQL", postgres)
    finally:
        await postgres.dispose()
    with tempfile.TemporaryDirectory() as directory:
        sqlite = Database(f"sqlite+aiosqlite:///{Path(directory) / 'events.db'}")
        try:
            results += await _run("SQLite", sqlite)
        finally:
            await sqlite.dispose()
    print_table("Write events and audit: cost of bulk_create (ratio to plain)", results)
