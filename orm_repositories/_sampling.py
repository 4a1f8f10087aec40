"""Random rows: `random` and `sample`, uniform and without a full-table sort.

For a model with a single integer primary key, rows are found by *probing*: draw
keys uniformly from `[min(pk), max(pk)]` and fetch the rows whose key is exactly
one of them (one primary-key index lookup per probe). Only exact hits count, so
every matching row is hit with the same probability whatever the gaps between
keys; taking hits in draw order and skipping repeats draws without replacement,
so the result is a uniform random subset.

`min` and `max` of the key are index endpoint reads, so an unfiltered call costs a
few index lookups however large the table is; where the backend takes an array of
draws (PostgreSQL), the bounds, the probes and the rows they hit are one statement,
one round trip. Probing stops after a budget of
`16 * n + 64` probes (rows matching the filters are then sparser than about one
key in sixteen of the key range); the rows still missing are taken with
`ORDER BY random() LIMIT k` over the matching rows, which is uniform too but reads
every matching row. Models with other keys always use that query.
"""

from __future__ import annotations

import math
import random as _random
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, bindparam, cast, func, select

from orm_core.errors import InvalidQueryError
from orm_core.fields import FieldInfo
from orm_repositories._keys import chunks, pk_in, pk_of
from orm_repositories._loading import Load, target_options
from orm_repositories._target import Target, execute, fetch_all

# Replaceable (tests seed it); keys need uniformity, not unpredictability.
rng = _random.Random()

PROBES_PER_ROW = 16
PROBE_FLOOR = 64
MAX_PROBED_SAMPLE = 10_000
_MAX_BATCH = 20_000
_DRAWS = "orm_draws"
_LIMIT = "orm_draw_limit"
_DRAWN: dict[tuple[Any, str], Any] = {}


async def sample(
    target: Target, n: Any, conditions: Sequence[ColumnElement[bool]], load: Load = None
) -> list[Any]:
    """`n` distinct rows matching `conditions`, drawn uniformly, in random order."""
    options = target_options(target, load)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InvalidQueryError("sample size must be a non-negative integer", {"n": n})
    if n == 0:
        return []
    key = _probe_key(target)
    found: list[Any] = []
    if key is not None and n <= MAX_PROBED_SAMPLE:
        found = await _probe(target, key, n, conditions)
    if len(found) < n:
        found.extend(await _shuffled(target, n - len(found), conditions, found))
    if options and found:
        # the draw reads keys only; the chosen rows get their relationships in one go
        keys = [pk_of(target.info, entity) for entity in found]
        statement = select(target.model).where(pk_in(target, keys)).options(*options)
        await fetch_all(target, statement)
    return found


def _probe_key(target: Target) -> FieldInfo | None:
    pk = target.info.primary_key
    return pk[0] if len(pk) == 1 and pk[0].python_type is int else None


async def _probe(
    target: Target, key: FieldInfo, n: int, conditions: Sequence[ColumnElement[bool]]
) -> list[Any]:
    column = key.attribute
    bounds: tuple[Any, Any] | None = None
    found: dict[Any, Any] = {}
    budget = PROBES_PER_ROW * n + PROBE_FLOOR
    hit_rate = 1.0
    while len(found) < n and budget > 0:
        missing = n - len(found)
        size = min(budget, _MAX_BATCH, math.ceil(missing / hit_rate * 1.25) + 8)
        budget -= size
        # a probe is low + floor(u * (high - low + 1)): uniform over the key range
        fractions = [rng.random() for _ in range(size)]
        drawn = _drawn_statement(target, column)
        if drawn is not None:
            # only the first `missing` hits can be taken: the rest are not even loaded
            statement = drawn.where(*conditions) if conditions else drawn
            params = {_DRAWS: fractions, _LIMIT: missing}
            hits = await fetch_all(target, statement, params)
            if len(hits) == missing:
                fractions = fractions[: len(hits)]  # what the hit rate is known over
        else:
            bounds = bounds or await _bounds(target, column)
            hits = await _hits_probed(target, bounds, fractions, conditions)
        if not hits and not found and bounds is None:
            bounds = await _bounds(target, column)  # nothing hit: maybe nothing is there
        if bounds is not None and bounds[0] is None:
            return []
        for entity in hits:
            found.setdefault(pk_of(target.info, entity), entity)
            if len(found) == n:
                break
        hit_rate = max(len(hits) / len(fractions), 1 / PROBES_PER_ROW)
    return list(found.values())


async def _bounds(target: Target, column: Any) -> tuple[Any, Any]:
    """The smallest and largest key: two index endpoint reads.

    Each is a scalar subquery of its own: SQLite reads `min` or `max` from the index
    only when the aggregate is alone in its query (both in one query scan the table).
    """
    row = (await execute(target, select(*_key_bounds(column)))).one()
    low, high = tuple(row)
    return low, high


def _key_bounds(column: Any) -> tuple[Any, Any]:
    """`min(column)` and `max(column)`, each a scalar subquery of its own (an index read)."""
    return select(func.min(column)).scalar_subquery(), select(func.max(column)).scalar_subquery()


def _drawn_statement(target: Target, column: Any) -> Any:
    """Bounds, probes and their rows in one statement (built once per model and backend).

    The first `:limit` rows hit, in draw order: `fetch_all` keeps a key drawn twice once
    (a repeat only makes fewer hits). The bounds are scalar subqueries read once from the
    key index; each draw is one primary-key lookup. None: the backend takes no draws.
    """
    key = (target.model, target.backend.name)
    if key in _DRAWN:
        return _DRAWN[key]
    draws = target.backend.draws(_DRAWS)
    statement = None
    if draws is not None:
        low, high = _key_bounds(column)
        probe = low + cast(func.floor(draws.c.u * (high - low + 1)), BigInteger)
        statement = (
            select(target.model)
            .join(draws, column == probe)
            .order_by(draws.c.seq)
            .limit(bindparam(_LIMIT, type_=Integer()))
        )
    _DRAWN[key] = statement
    return statement


async def _hits_probed(
    target: Target,
    bounds: tuple[Any, Any],
    fractions: Sequence[float],
    conditions: Sequence[ColumnElement[bool]],
) -> list[Any]:
    """The rows the draws hit, probed by key once the bounds are known, in draw order."""
    low, high = bounds
    if low is None:
        return []
    probes = [low + math.floor(u * (high - low + 1)) for u in fractions]
    rows = await _fetch_keys(target, sorted(set(probes)), conditions)
    return [rows[p] for p in dict.fromkeys(probes) if p in rows]


async def _fetch_keys(
    target: Target, keys: Sequence[int], conditions: Sequence[ColumnElement[bool]]
) -> dict[int, Any]:
    rows: dict[int, Any] = {}
    for chunk in chunks(target, keys):
        statement = select(target.model).where(pk_in(target, chunk), *conditions)
        for entity in await fetch_all(target, statement):
            rows[pk_of(target.info, entity)] = entity
    return rows


async def _shuffled(
    target: Target, k: int, conditions: Sequence[ColumnElement[bool]], exclude: Sequence[Any]
) -> list[Any]:
    statement = select(target.model).where(*conditions)
    if exclude:
        statement = statement.where(~pk_in(target, [pk_of(target.info, e) for e in exclude]))
    return await fetch_all(target, statement.order_by(target.backend.random()).limit(k))
