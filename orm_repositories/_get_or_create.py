"""`get_or_create` and `update_or_create`, safe when two transactions race for one key.

The insert runs in a savepoint: when a concurrent transaction inserted the same key
first, the unique violation is caught and the winner's row is read instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orm_core.errors import DuplicateError, InvalidQueryError
from orm_core.lookups import OPERATORS
from orm_repositories._insert import add
from orm_repositories._locking import locked
from orm_repositories._reads import first
from orm_repositories._select import ordered, select_entities
from orm_repositories._target import Target, fetch_first
from orm_repositories._update import update_entity
from orm_repositories._values import check_values


async def get_or_create(
    target: Target, defaults: Mapping[str, Any] | None, lookups: Mapping[str, Any]
) -> tuple[Any, bool]:
    """The row matching `lookups` and False, else the row inserted and True."""
    values = _creation_values(target, defaults, lookups)
    found = await first(target, (), lookups, None)
    if found is not None:
        return found, False
    return await _insert_or_reread(target, values, lookups, lock=False)


async def update_or_create(
    target: Target, defaults: Mapping[str, Any] | None, lookups: Mapping[str, Any]
) -> tuple[Any, bool]:
    """Update the row matching `lookups` with `defaults` (locked meanwhile), or insert it."""
    values = _creation_values(target, defaults, lookups)
    updates = check_values(target, defaults or {}, allow_pk=False)
    found = await _first_locked(target, lookups)
    if found is not None:
        return await update_entity(target, found, updates), False
    entity, created = await _insert_or_reread(target, values, lookups, lock=True)
    if not created:
        entity = await update_entity(target, entity, updates)
    return entity, created


def _creation_values(
    target: Target, defaults: Mapping[str, Any] | None, lookups: Mapping[str, Any]
) -> dict[str, Any]:
    if not lookups:
        raise InvalidQueryError("get_or_create needs at least one lookup")
    if defaults is not None and not isinstance(defaults, Mapping):
        raise InvalidQueryError("defaults must be a mapping of field values")
    for key, value in lookups.items():
        _, sep, op = key.rpartition("__")
        if (sep and op in OPERATORS and key not in target.info.fields) or isinstance(value, dict):
            raise InvalidQueryError(
                f"get_or_create lookups must be plain field=value pairs, not {key!r}"
            )
    return check_values(target, {**lookups, **(defaults or {})}, inserting=True)


async def _first_locked(target: Target, lookups: Mapping[str, Any]) -> Any:
    statement = ordered(target, select_entities(target, (), lookups), None).limit(1)
    return await fetch_first(target, locked(target, statement, False, False))


async def _insert_or_reread(
    target: Target, values: dict[str, Any], lookups: Mapping[str, Any], *, lock: bool
) -> tuple[Any, bool]:
    entity = target.model(**values)
    try:
        async with target.session.begin_nested():
            await add(target, [entity])
    except DuplicateError:
        found = await (_first_locked(target, lookups) if lock else first(target, (), lookups, None))
        if found is None:
            raise
        return found, False
    return entity, True
