"""Full-text search on PostgreSQL with 100,000 documents: `search` vs `icontains`.

Builds `bench_search_docs` once, in its own database `orm_bench_search`, with
`INSERT ... SELECT generate_series` (titles of 2 words, bodies of 40, drawn from a
5,000-word vocabulary; `quasar` in about 200 documents, `river` in 10,000), and reuses
it on later runs. For a word no document holds, a rare word, a common word and two words,
it compares, as ratios to `list(body__icontains=..., limit=20)` (a sequential scan that
stops at the 20th match):

- `search(fields=["title", "body"])`: the declared vector and its GIN index, ranked;
- `search(fields=["body"])`: a vector built on the fly, every row read (no index).

Run: `python -m benchmarks search` (ORM_BENCH_POSTGRES_URL picks the server).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import asyncpg
from sqlalchemy import String, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from benchmarks.common import POSTGRES_URL, Row, median_time, print_table
from orm_core import Database, UnitOfWork, search_vector
from orm_repositories import AsyncRepository

DATABASE = "orm_bench_search"
ROWS = 100_000
BODY_WORDS = 40
# no "r" or "q" in a syllable: no made-up word contains "river" or "quasar"
SYLLABLES = [c + v for c in "bdfgklmnpstvz" for v in "aeiou"]
QUERIES = [
    ("absent word", ["zebra"]),
    ("rare word", ["quasar"]),
    ("common word", ["river"]),
    ("two words", ["river", "kado"]),
]


class BenchBase(DeclarativeBase):
    """A declarative base of its own, so the benchmark table never meets the test models."""


class Doc(BenchBase):
    __tablename__ = "bench_search_docs"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str]
    category: Mapped[str] = mapped_column(String(10))
    search = search_vector("title", "body")


class BenchUoW(UnitOfWork):
    docs: AsyncRepository[Doc]


def _vocabulary() -> list[str]:
    words = ("".join(p) for n in (2, 3) for p in itertools.product(SYLLABLES, repeat=n))
    return list(itertools.islice(words, 5_000))


def _url(database: str) -> str:
    return make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)


async def _ensure_database() -> None:
    url = make_url(POSTGRES_URL).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()


async def _ensure_table(db: Database) -> None:
    async with db.engine.begin() as conn:
        present = await conn.scalar(text("SELECT to_regclass('bench_search_docs') IS NOT NULL"))
        if present and await conn.scalar(text("SELECT count(*) FROM bench_search_docs")) == ROWS:
            return
        print(f"building bench_search_docs with {ROWS:,} rows ...", flush=True)
        started = time.perf_counter()
        await conn.run_sync(BenchBase.metadata.drop_all)
        await conn.run_sync(BenchBase.metadata.create_all)
        vocabulary = _vocabulary()
        await conn.execute(
            text(
                "INSERT INTO bench_search_docs (id, title, body, category) "
                "SELECT i, initcap(v[1 + (i * 31) % n]) || ' ' || v[1 + (i * 17 + 3) % n] "
                "  || CASE WHEN i % 997 = 0 THEN ' quasar' ELSE '' END, "
                "  (SELECT string_agg(v[1 + ((i * 7919 + j * 104729) % n)], ' ') "
                "   FROM generate_series(1, CAST(:words AS integer)) AS j) "
                "  || CASE WHEN i % 10 = 0 THEN ' river' ELSE '' END "
                "  || CASE WHEN i % 1009 = 0 THEN ' quasar' ELSE '' END, "
                "  (ARRAY['a', 'b', 'c', 'd'])[1 + i % 4] "
                "FROM generate_series(1, CAST(:rows AS integer)) AS i, "
                "  (SELECT CAST(:vocabulary AS text[]) AS v, CAST(:size AS integer) AS n) AS words"
            ),
            {"rows": ROWS, "words": BODY_WORDS, "vocabulary": vocabulary,
             "size": len(vocabulary)},
        )  # fmt: skip
        print(f"built in {time.perf_counter() - started:.1f} s", flush=True)
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE bench_search_docs"))


async def _cases(db: Database) -> list[Row]:
    rows: list[Row] = []
    for label, words in QUERIES:
        first, *more = words
        found: dict[str, int] = {}

        def icontains(
            first: str = first, more: list[str] = more, found: dict[str, int] = found
        ) -> Any:
            async def run() -> object:
                async with BenchUoW(db, read_only=True) as uow:
                    extra = [Doc.body.icontains(w) for w in more]
                    docs = await uow.docs.list(*extra, body__icontains=first, limit=20)
                    found["icontains"] = len(docs)
                    return docs

            return run

        def search(
            fields: list[str], words: list[str] = words, found: dict[str, int] = found
        ) -> Any:
            async def run() -> object:
                async with BenchUoW(db, read_only=True) as uow:
                    docs = await uow.docs.search(" ".join(words), fields=fields)
                    found[",".join(fields)] = len(docs)
                    return docs

            return run

        async with db.engine.connect() as conn:
            matching = await conn.scalar(
                text("SELECT count(*) FROM bench_search_docs "
                     "WHERE search @@ websearch_to_tsquery('english', :q)"),
                {"q": " ".join(words)},
            )  # fmt: skip
        base = await median_time(icontains(), repeat=7)
        indexed = await median_time(search(["title", "body"]), repeat=21)
        on_the_fly = await median_time(search(["body"]), repeat=3)
        case = f"{label}: {' '.join(words)} ({matching:,} match)"
        rows += [
            Row(case, "list(body__icontains=..., limit=20)", base, base,
                f"{found['icontains']} rows, unranked"),
            Row(case, "search(fields=['title', 'body'])", indexed, base,
                f"{found['title,body']} rows, ranked; GIN index"),
            Row(case, "search(fields=['body'])", on_the_fly, base,
                f"{found['body']} rows, ranked; vector built per row"),
        ]  # fmt: skip
    return rows


async def main() -> None:
    """Build (or reuse) the table and print the search benchmark."""
    await _ensure_database()
    db = Database(_url(DATABASE), pool_size=2)
    try:
        await _ensure_table(db)
        async with db.engine.connect() as conn:
            count = await conn.scalar(text("SELECT count(*) FROM bench_search_docs"))
        print_table(f"search vs icontains ({count:,} documents, PostgreSQL)", await _cases(db))
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
