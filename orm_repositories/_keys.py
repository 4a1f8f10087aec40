"""Primary keys: checking ids, matching them in SQL, reading them off entities, chunking."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, false

from orm_core.checkers import OutOfRange
from orm_core.errors import InvalidQueryError
from orm_core.fields import ModelInfo, compared_value
from orm_repositories._target import Target


def pk_value(info: ModelInfo, ident: Any) -> Any:
    """Check an id (a tuple for composite keys) against the key's types.

    Reads are not validation: an id of the right type that no row can hold (an
    integer beyond the column's range) is returned as an `OutOfRange`, which
    matches nothing.

    Raises:
        InvalidQueryError: a value of the wrong type or shape.
    """
    pk = info.primary_key
    if len(pk) == 1:
        if ident is None or isinstance(ident, tuple | list | dict | set):
            raise InvalidQueryError(f"invalid id {ident!r} for {info.model.__name__}")
        return compared_value(pk[0], ident)
    if not isinstance(ident, tuple | list) or len(ident) != len(pk):
        raise InvalidQueryError(
            f"{info.model.__name__} has a composite key: pass a tuple of {len(pk)} values"
        )
    values = tuple(compared_value(f, v) for f, v in zip(pk, ident, strict=True))
    return next((v for v in values if isinstance(v, OutOfRange)), values)


def matches_nothing(ident: Any) -> bool:
    """Whether a checked id is one no row can have."""
    return isinstance(ident, OutOfRange)


def pk_values(info: ModelInfo, idents: Iterable[Any]) -> list[Any]:
    """Check a collection of ids; repeats and ids no row can have are dropped, order kept."""
    if isinstance(idents, str | bytes) or not isinstance(idents, Iterable):
        raise InvalidQueryError("ids must be an iterable of ids")
    seen: dict[Any, None] = {}
    for ident in idents:
        seen.setdefault(pk_value(info, ident), None)
    return [ident for ident in seen if not matches_nothing(ident)]


def pk_equals(info: ModelInfo, value: Any) -> ColumnElement[bool]:
    """`pk = value` (each column of a composite key); false for an id no row can have."""
    if matches_nothing(value):
        return false()
    pk = info.primary_key
    if len(pk) == 1:
        condition: ColumnElement[bool] = pk[0].attribute == value
        return condition
    return and_(*(f.attribute == v for f, v in zip(pk, value, strict=True)))


def pk_in(target: Target, values: Sequence[Any]) -> ColumnElement[bool]:
    """`pk IN values`, spelled as the backend matches key lists best."""
    pk = target.info.primary_key
    if len(pk) == 1:
        return target.backend.value_in(pk[0].attribute, values)
    return target.backend.keys_in([f.attribute for f in pk], values)


def pk_of(info: ModelInfo, entity: Any) -> Any:
    """The key of an entity (a tuple for composite keys)."""
    values = tuple(getattr(entity, f.key) for f in info.primary_key)
    return values[0] if len(values) == 1 else values


def pk_of_values(info: ModelInfo, values: Mapping[str, Any]) -> Any:
    """The key held in a mapping of field values."""
    key = tuple(values[f.key] for f in info.primary_key)
    return key[0] if len(key) == 1 else key


def chunks(target: Target, values: Sequence[Any], per_item: int = 1) -> Iterator[Sequence[Any]]:
    """Split `values` so no statement exceeds the backend's bind-parameter limit."""
    width = max(1, per_item * len(target.info.primary_key))
    size = max(1, target.backend.max_bind_params // width)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def sorted_keys(keys: Iterable[Any]) -> list[Any]:
    """Sort keys so rows are locked in key order; fall back to a stable order."""
    items = list(keys)
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)
