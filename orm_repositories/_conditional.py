"""Atomic conditional writes: `update_if`, and optimistic locking with `update_with_lock`.

Each is one `UPDATE … WHERE … RETURNING *` from the one UPDATE builder: the
condition is checked by the database in the same statement that writes, so no
other transaction can slip in between a read and the write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import inspect

from orm_core.errors import ConcurrentModificationError, InvalidQueryError
from orm_core.lookups import Comparison, build_filters, comparisons
from orm_repositories._keys import pk_of_values, pk_value
from orm_repositories._reload import ensure_loaded
from orm_repositories._select import lookup_context
from orm_repositories._target import Target, flush
from orm_repositories._update import update_one
from orm_repositories._values import check_values, reject_version


async def update_if(
    target: Target, id: Any, conditions: Any, values: Mapping[str, Any]
) -> tuple[bool, Any]:
    """Update one row only if it still matches `conditions`: `(True, entity)` or `(False, None)`."""
    ident = pk_value(target.info, id)
    if not isinstance(conditions, Mapping):
        raise InvalidQueryError("update_if conditions must be a mapping of lookups")
    if not values:
        raise InvalidQueryError("update_if needs at least one value to set")
    checked = check_values(target, values, allow_pk=False)
    reject_version(target.info, checked)
    compared = comparisons(target.model, conditions)
    if compared is None:
        found = build_filters(target.model, conditions, lookup_context(target))
        entity = await update_one(target, ident, checked, conditions=found)
    else:
        entity = await update_one(target, ident, checked, compared)
    return entity is not None, entity


async def update_with_lock(target: Target, entity: Any, values: Mapping[str, Any]) -> Any:
    """Write `values` only if the row still has the version `entity` was read at.

    Raises:
        ConcurrentModificationError: the row changed (or went) since it was read.
    """
    info = target.info
    version = info.version
    if version is None:
        raise InvalidQueryError(
            f"update_with_lock needs a VersionMixin model; {target.model.__name__} has no version"
        )
    if not isinstance(entity, target.model):
        raise InvalidQueryError(f"expected a {target.model.__name__}, got {type(entity).__name__}")
    checked = check_values(target, values, allow_pk=False)
    reject_version(info, checked)
    if entity in target.session:
        await flush(target)  # pending changes on the held copy would bump the version
    held = await _loaded_values(target, entity, [version.key, *(f.key for f in info.primary_key)])
    ident = pk_value(info, pk_of_values(info, held))
    expected = held[version.key]
    updated = await update_one(target, ident, checked, [Comparison(version, "eq", expected)])
    if updated is None:
        raise ConcurrentModificationError(
            f"{target.model.__name__} was modified or deleted by another transaction",
            {"model": target.model.__name__, "id": ident, "expected_version": expected},
        )
    return updated


async def _loaded_values(target: Target, entity: Any, keys: list[str]) -> dict[str, Any]:
    """Read attributes without lazy loading; refresh only an entity of this session."""
    state = inspect(entity)
    if any(k not in state.dict for k in keys):
        if state.session is not target.session.sync_session or not state.persistent:
            raise InvalidQueryError(
                f"the {target.model.__name__} has no loaded {', '.join(keys)}: "
                "pass an entity read from the database"
            )
        await ensure_loaded(target, [entity])
    return {k: state.dict[k] for k in keys}
