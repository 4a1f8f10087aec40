"""What each piece of work must return, computed from the seed rows' formulas.

The seed rows have ids 1..N, category `c{i % 10}` and price `i % 200 + 0.50`, so every
expected answer follows without asking the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from benchmarks.peers.workload import CATEGORIES


def category_ids(seed: int, category: str) -> range:
    """The ids of category `category`, in order."""
    k = CATEGORIES.index(category)
    return range(k or len(CATEGORIES), seed + 1, len(CATEGORIES))


def expected_list(seed: int, category: str, min_price: Decimal, limit: int) -> list[int]:
    """The first `limit` ids of `category` priced above `min_price`."""
    found: list[int] = []
    for i in category_ids(seed, category):
        if Decimal(f"{i % 200}.50") > min_price:
            found.append(i)
            if len(found) == limit:
                break
    return found


def expected_page(seed: int, category: str, page: int, size: int) -> tuple[int, list[int]]:
    """The total of `category` and the ids of its page `page`."""
    ids = category_ids(seed, category)
    start = (page - 1) * size
    return len(ids), list(ids[start : start + size])


def differs(got: Any, want: Any, what: str) -> str | None:
    """A message when `got` is not `want`."""
    if got == want:
        return None
    return f"{what}: got {_short(got)}, want {_short(want)}"


def sample_problem(got: Sequence[int], n: int, seed: int) -> str | None:
    """A message unless `got` holds `n` distinct ids of the table."""
    if len(got) != n or len(set(got)) != n or not all(1 <= i <= seed for i in got):
        return f"random sample: got {_short(list(got))}, want {n} distinct ids in 1..{seed}"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 160 else text[:150] + "…"
