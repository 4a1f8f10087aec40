"""The shared workload: table shapes, sizes (scaled by `PEERS_SCALE`) and the rows to write.

Every peer maps the same two tables. `bench_peer_items` is seeded once per backend with
ids 1..N and serves the reads and the hot-row counter; `bench_peer_writes` is emptied
(or reset to its half of existing keys) before each bulk insert or upsert.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, MetaData, Numeric, String, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ITEMS = "bench_peer_items"
WRITES = "bench_peer_writes"
CATEGORIES = [f"c{n}" for n in range(10)]


class PeersBase(DeclarativeBase):
    """A plain declarative base: the framework, SQLAlchemy and advanced-alchemy share it."""

    metadata = MetaData()


class Item(PeersBase):
    __tablename__ = ITEMS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(50), index=True)
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    stock: Mapped[int] = mapped_column(Integer, default=0)
    hits: Mapped[int] = mapped_column(Integer, default=0)


class Written(PeersBase):
    __tablename__ = WRITES

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(50))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    stock: Mapped[int] = mapped_column(Integer, default=0)
    hits: Mapped[int] = mapped_column(Integer, default=0)


ITEMS_TABLE: Table = Item.__table__  # type: ignore[assignment]
WRITES_TABLE: Table = Written.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Sizes:
    """How much work one round does; `from_env` scales the full-size run by `PEERS_SCALE`."""

    seed: int = 1_000_000
    bulk: int = 100_000
    upsert: int = 10_000
    tasks: int = 50
    steps: int = 10
    calls: int = 50
    page_size: int = 20
    sample: int = 10
    rounds: int = 5

    @classmethod
    def from_env(cls) -> Sizes:
        """Read `PEERS_SCALE` (default 1.0) and `PEERS_ROUNDS` (default 5)."""
        scale = float(os.environ.get("PEERS_SCALE", "1"))
        return cls.scaled(scale, rounds=int(os.environ.get("PEERS_ROUNDS", "5")))

    @classmethod
    def scaled(cls, scale: float, *, rounds: int = 5) -> Sizes:
        """Sizes for a run `scale` times the full one (the tiny smoke test uses 0.001)."""
        full = cls()
        return cls(
            seed=max(500, int(full.seed * scale)),
            bulk=max(100, int(full.bulk * scale)),
            upsert=max(20, int(full.upsert * scale) // 2 * 2),
            tasks=full.tasks,
            steps=max(2, int(full.steps * min(1.0, scale * 10))),
            calls=max(2, int(full.calls * min(1.0, scale * 10))),
            rounds=rounds,
        )

    @property
    def deep_after(self) -> int:
        """The id after which the deep page starts: nine tenths into the table."""
        return self.seed * 9 // 10


def seed_row(i: int) -> dict[str, Any]:
    """Row `i` of the read table (ids 1..N, ten categories, prices 0.50..199.50)."""
    return {
        "id": i,
        "sku": f"S{i:08d}",
        "name": f"item {i}",
        "category": CATEGORIES[i % len(CATEGORIES)],
        "price": Decimal(f"{i % 200}.50"),
        "stock": i % 50,
        "hits": 0,
    }


def write_rows(count: int, generation: int) -> list[dict[str, Any]]:
    """`count` new rows for the write table; `generation` marks their names and prices."""
    price = Decimal(f"{generation % 90 + 1}.25")
    return [
        {
            "sku": f"W{i:08d}",
            "name": f"row {i} v{generation}",
            "category": CATEGORIES[i % len(CATEGORIES)],
            "price": price,
            "stock": i % 50,
        }
        for i in range(count)
    ]
