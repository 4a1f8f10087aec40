"""Managed values: what every UPDATE sets besides what the caller asked for.

`updated_at` (any column with a Python-side `onupdate`) takes the current time, and
a `VersionMixin` version goes up by one, so a holder of an older copy fails its own
optimistic check instead of overwriting the change. `touch=False` (counters) leaves
both alone: a Core UPDATE would run `onupdate` for every column it does not set, so
those columns are set to themselves.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Integer, inspect, literal_column

from orm_core.fields import ModelInfo


def managed_values(
    info: ModelInfo, given: Collection[str], *, touch: bool = True
) -> dict[str, Any]:
    """Managed columns an UPDATE writing `given` fields sets too, keyed by field.

    Values are plain values (the time) or SQL expressions (`version + 1`).
    """
    values: dict[str, Any] = {}
    for key, field in info.fields.items():
        if field.onupdate is not None and key not in given:
            values[key] = field.onupdate.produce() if touch else field.attribute
    version = info.version
    if touch and version is not None and version.key not in given:
        generator: Any = inspect(info.model).version_id_generator
        if version.python_type is int and generator is not False:
            values[version.key] = _bump(version.column)
        elif callable(generator):
            values[version.key] = generator(None)
    return values


_BUMPS: dict[Any, Any] = {}


def _bump(column: Any) -> Any:
    """`version + 1`, built once per column; a literal keeps bound values out of the
    statement (executemany, caching)."""
    bump = _BUMPS.get(column)
    if bump is None:
        bump = _BUMPS[column] = column + literal_column("1", Integer())
    return bump
