"""Timing and table helpers shared by the benchmarks.

Variants are always compared inside one run, as ratios: the machine is shared
and noisy, so absolute figures from different runs mean little.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

POSTGRES_URL = os.environ.get(
    "ORM_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


@dataclass
class Row:
    """One line of a results table: a case, its variant's median time, and a ratio."""

    case: str
    variant: str
    seconds: float
    baseline: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """This variant's time over the baseline's (lower is faster)."""
        return self.seconds / self.baseline if self.baseline else None


async def median_time(
    fn: Callable[[], Awaitable[object]], *, repeat: int = 5, warmup: int = 1
) -> float:
    """Return the median wall time of `fn` over `repeat` runs after `warmup` runs."""
    for _ in range(warmup):
        await fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def print_table(title: str, rows: list[Row]) -> None:
    """Print rows as an aligned text table with ratios to their baselines."""
    print(f"\n## {title}\n")
    header = f"| {'case':<34} | {'variant':<34} | {'median':>11} | {'ratio':>7} | note"
    print(header)
    print("|" + "-" * 36 + "|" + "-" * 36 + "|" + "-" * 13 + "|" + "-" * 9 + "|------")
    for row in rows:
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "1.00x"
        print(
            f"| {row.case:<34} | {row.variant:<34} | {_fmt(row.seconds):>11} | {ratio:>7} "
            f"| {row.note}"
        )


def _fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.3f} s"
