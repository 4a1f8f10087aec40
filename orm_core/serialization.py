"""Turn entities into dicts and JSON, compare them, and list their unflushed changes.

`to_dict` keeps Python values (a `Decimal` stays a `Decimal`); `to_json` makes
them JSON-safe: `Decimal` becomes a string so no precision is lost to floats,
`UUID` a string, `datetime`/`date`/`time` ISO 8601 strings, `timedelta` a number of
seconds, `Enum` its value, `bytes` base64 text.

Only column attributes are serialized, and only loaded ones: an expired or
deferred column is left out rather than loaded, because loading it would need
the database (and fails outside the async bridge). Refresh the entity first when
every column must be present.
"""

from __future__ import annotations

import base64
import enum
import json
import uuid
from collections.abc import Collection, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import InstanceState, PassiveFlag
from sqlalchemy.orm.attributes import get_history

from orm_core.errors import InvalidQueryError
from orm_core.fields import model_info


def to_dict(
    entity: Any,
    *,
    include: Collection[str] | None = None,
    exclude: Collection[str] | None = None,
) -> dict[str, Any]:
    """Return the entity's loaded column values, keyed by attribute name.

    Raises:
        InvalidQueryError: `entity` is not a mapped object, or `include`/`exclude`
            names a field the model does not have.
    """
    state = _state(entity)
    names = _selected(type(entity), include, exclude)
    loaded = state.dict
    if state.transient or state.pending:
        return {name: getattr(entity, name) for name in names}
    return {name: loaded[name] for name in names if name in loaded}


def to_json(
    entity: Any,
    *,
    include: Collection[str] | None = None,
    exclude: Collection[str] | None = None,
    indent: int | None = None,
) -> str:
    """Return `to_dict(entity)` as JSON text (see the module docstring for value formats).

    Raises:
        InvalidQueryError: as `to_dict`.
    """
    return json.dumps(to_dict(entity, include=include, exclude=exclude), default=json_default,
                      indent=indent)  # fmt: skip


def json_default(value: Any) -> Any:
    """Encode the values `json` does not know; raise TypeError for any other."""
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def diff(a: Any, b: Any) -> dict[str, dict[str, Any]]:
    """Return `{field: {"old": value_in_a, "new": value_in_b}}` for every field that differs.

    `a` and `b` are entities of one model or plain dicts; a field missing from
    one side counts as None there.

    Raises:
        InvalidQueryError: `a` and `b` are entities of different models.
    """
    if not isinstance(a, Mapping) and not isinstance(b, Mapping) and type(a) is not type(b):
        raise InvalidQueryError(
            f"cannot diff a {type(a).__name__} with a {type(b).__name__}",
        )
    old = dict(a) if isinstance(a, Mapping) else to_dict(a)
    new = dict(b) if isinstance(b, Mapping) else to_dict(b)
    changes: dict[str, dict[str, Any]] = {}
    for key in [*old, *(k for k in new if k not in old)]:
        before, after = old.get(key), new.get(key)
        if before != after:
            changes[key] = {"old": before, "new": after}
    return changes


def changed_fields(entity: Any) -> set[str]:
    """Return the column attributes changed since the entity was loaded and not yet flushed.

    A field set back to its loaded value does not count. For a new (unflushed)
    entity every field given a value counts.

    Raises:
        InvalidQueryError: `entity` is not a mapped object.
    """
    _state(entity)
    changed: set[str] = set()
    model: type = type(entity)
    for name in model_info(model).fields:
        # not `state.attrs`: its memoized views refer back to the state (a reference cycle)
        history = get_history(entity, name, passive=PassiveFlag.PASSIVE_NO_INITIALIZE)
        if not history.has_changes():
            continue
        if history.deleted and list(history.added) == list(history.deleted):
            continue
        changed.add(name)
    return changed


def _state(entity: Any) -> InstanceState[Any]:
    try:
        state: InstanceState[Any] = inspect(entity)
    except Exception as exc:
        raise InvalidQueryError(f"{type(entity).__name__} is not a mapped entity") from exc
    if not isinstance(state, InstanceState):
        raise InvalidQueryError(f"{type(entity).__name__} is not a mapped entity")
    return state


def _selected(
    model: type, include: Collection[str] | None, exclude: Collection[str] | None
) -> list[str]:
    info = model_info(model)
    include = [include] if isinstance(include, str) else include
    exclude = [exclude] if isinstance(exclude, str) else exclude
    for name in [*(include or ()), *(exclude or ())]:
        info.field(name)  # raises InvalidQueryError for unknown names
    names = list(info.fields) if include is None else [n for n in info.fields if n in include]
    skip = set(exclude or ())
    return [n for n in names if n not in skip]
