"""Random rows: `random` and `sample`, uniform and without a full-table sort.

For a model with a single integer primary key, rows are found by *probing*:
draw keys uniformly from `[min(pk), max(pk)]` and fetch the rows whose key is
exactly one of them (`WHERE pk IN (...)`, one primary-key index lookup per probe).
Only exact hits count, so every matching row is hit with the same probability
whatever the gaps between keys; taking hits in draw order and skipping repeats
draws without replacement, so the result is a uniform random subset.

`min` and `max` of the key are index endpoint reads, so an unfiltered call costs a
few index lookups however large the table is. Probing stops after a budget of
`16 * n + 64` probes (rows matching the filters are then sparser than about one
key in sixteen of the key range); the rows still missing are taken with
`ORDER BY random() LIMIT k` over the matching rows, which is uniform too but
reads every matching row. Models with other keys always use that query.
"""

from __future__ import annotations

import builtins
import math
import random as _random
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, any_, bindparam, func, select

from orm_core.errors import InvalidQueryError
from orm_core.fields import Field
from orm_repositories.base import ModelT
from orm_repositories.reading import ReadMixin

# Replaceable (tests seed it); keys need uniformity, not unpredictability.
rng = _random.Random()

PROBES_PER_ROW = 16
PROBE_FLOOR = 64
MAX_PROBED_SAMPLE = 10_000
_MAX_BATCH = 20_000

# The database's random-number function, per dialect (default: `random()`).
_RANDOM_FUNCTIONS: dict[str, Callable[[], ColumnElement[Any]]] = {
    "mysql": func.rand,
    "mariadb": func.rand,
}


def _key_in(column: Any, keys: Sequence[int]) -> ColumnElement[bool]:
    return column.in_(keys)  # type: ignore[no-any-return]


def _key_in_array(column: Any, keys: Sequence[int]) -> ColumnElement[bool]:
    # One array parameter keeps the SQL text constant, so the driver's prepared
    # statement is reused instead of preparing one per probe count.
    return column == any_(bindparam("probe_keys", list(keys), type_=ARRAY(column.type)))  # type: ignore[no-any-return]


# How to match a list of probed keys, per dialect (default: `IN (...)`).
_KEY_MATCHERS: dict[str, Callable[[Any, Sequence[int]], ColumnElement[bool]]] = {
    "postgresql": _key_in_array,
}


class SamplingMixin(ReadMixin[ModelT]):
    """`random` and `sample`: uniformly drawn distinct rows."""

    async def random(self, *where: Any, **lookups: Any) -> ModelT | None:
        """Return one uniformly drawn matching row, or None when nothing matches.

        Raises:
            InvalidQueryError: an unknown field or a bad lookup value.
        """
        rows = await self.sample(1, *where, **lookups)
        return rows[0] if rows else None

    async def sample(self, n: int, *where: Any, **lookups: Any) -> builtins.list[ModelT]:
        """Return `n` distinct matching rows drawn uniformly, in random order.

        Every matching row when fewer than `n` match; `[]` when `n` is 0.

        Raises:
            InvalidQueryError: `n` is not a non-negative integer, or a filter is bad.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidQueryError("sample size must be a non-negative integer", {"n": n})
        criteria = self._criteria(where, lookups)
        if n == 0:
            return []
        key = self._probe_key()
        found: builtins.list[ModelT] = []
        if key is not None and n <= MAX_PROBED_SAMPLE:
            found = await self._probe(key, n, criteria)
        if len(found) < n:
            found.extend(await self._shuffled(n - len(found), criteria, found))
        return found

    def _probe_key(self) -> Field | None:
        pk = self.info.primary_key
        if len(pk) == 1 and pk[0].python_type is int:
            return pk[0]
        return None

    async def _probe(
        self, key: Field, n: int, criteria: Sequence[ColumnElement[bool]]
    ) -> builtins.list[ModelT]:
        column = key.attribute
        bounds = (await self._execute(select(func.min(column), func.max(column)))).one()
        low, high = tuple(bounds)
        if low is None:
            return []
        found: dict[int, ModelT] = {}
        budget = PROBES_PER_ROW * n + PROBE_FLOOR
        hit_rate = 1.0
        while len(found) < n and budget > 0:
            missing = n - len(found)
            size = min(budget, _MAX_BATCH, math.ceil(missing / hit_rate * 1.25) + 8)
            budget -= size
            probes = [rng.randint(low, high) for _ in range(size)]
            rows = await self._fetch_keys(column, sorted(set(probes)), criteria)
            for probe in probes:
                if probe in rows and probe not in found:
                    found[probe] = rows[probe]
                    if len(found) == n:
                        break
            hits = sum(1 for probe in probes if probe in rows)
            hit_rate = max(hits / size, 1 / PROBES_PER_ROW)
        return builtins.list(found.values())

    async def _fetch_keys(
        self, column: Any, keys: Sequence[int], criteria: Sequence[ColumnElement[bool]]
    ) -> dict[int, ModelT]:
        rows: dict[int, ModelT] = {}
        dialect = self.session.get_bind().dialect.name
        matcher = _KEY_MATCHERS.get(dialect, _key_in)
        for chunk in self._chunks(keys):
            stmt = select(self.model).where(matcher(column, chunk), *criteria)
            for entity in await self._all(stmt):
                rows[self._pk_of(entity)] = entity
        return rows

    async def _shuffled(
        self, k: int, criteria: Sequence[ColumnElement[bool]], exclude: Sequence[ModelT]
    ) -> builtins.list[ModelT]:
        dialect = self.session.get_bind().dialect.name
        shuffle = _RANDOM_FUNCTIONS.get(dialect, func.random)()
        stmt = select(self.model).where(*criteria)
        if exclude:
            stmt = stmt.where(~self._pk_in([self._pk_of(e) for e in exclude]))
        return await self._all(stmt.order_by(shuffle).limit(k))
