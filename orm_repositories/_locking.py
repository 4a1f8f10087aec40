"""Pessimistic locking: `select_for_update` and `lock_many`.

Rows are locked the way the backend's `lock` says (`FOR NO KEY UPDATE` on
PostgreSQL, `FOR UPDATE` on MySQL/MariaDB). SQLite has no row locks: a write
transaction there starts with `BEGIN IMMEDIATE`, which takes the database's single
write lock up front, so these reads already exclude every other writer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select

from orm_core.errors import InvalidQueryError
from orm_repositories._keys import chunks, pk_equals, pk_in, pk_value, pk_values, sorted_keys
from orm_repositories._loading import Load, with_load
from orm_repositories._select import select_entities
from orm_repositories._target import Target, fetch_all, fetch_first


async def select_for_update(
    target: Target, id: Any, *, nowait: bool, skip_locked: bool, load: Load = None
) -> Any:
    """Lock one row and return its current state (refreshing a held copy), or None."""
    ident = pk_value(target.info, id)
    statement = select_entities(target).where(pk_equals(target.info, ident))
    statement = with_load(statement, target, load, locking=True)
    return await fetch_first(target, locked(target, statement, nowait, skip_locked))


async def lock_many(
    target: Target, ids: Iterable[Any], *, nowait: bool, skip_locked: bool, load: Load = None
) -> list[Any]:
    """Lock rows in primary-key order, so two callers locking overlapping sets queue."""
    values = sorted_keys(pk_values(target.info, ids))
    pk = [f.attribute for f in target.info.primary_key]
    found: list[Any] = []
    for chunk in chunks(target, values):  # one statement unless past the bind limit
        statement = select_entities(target).where(pk_in(target, chunk)).order_by(*pk)
        statement = with_load(statement, target, load, locking=True)
        found.extend(await fetch_all(target, locked(target, statement, nowait, skip_locked)))
    return found


def locked(target: Target, statement: Select[Any], nowait: Any, skip_locked: Any) -> Select[Any]:
    """`statement` taking the backend's row lock and refreshing held copies.

    Raises:
        InvalidQueryError: non-boolean flags, or both `nowait` and `skip_locked`.
    """
    if not isinstance(nowait, bool) or not isinstance(skip_locked, bool):
        raise InvalidQueryError("nowait and skip_locked take True or False")
    if nowait and skip_locked:
        raise InvalidQueryError("choose nowait or skip_locked, not both")
    statement = target.backend.lock(statement, nowait=nowait, skip_locked=skip_locked)
    return statement.execution_options(populate_existing=True)
