"""Values to be stored: names checked against the model, each value through its field's `store`.

`FieldInfo.store` (orm_core.fields) is the one check every value to be written
passes, on every path; this module applies it to the shapes repository methods take.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import inspect

from orm_core.errors import InvalidQueryError
from orm_core.fields import ModelInfo, quantized


def check_values(
    info: ModelInfo, values: Mapping[str, Any], *, allow_pk: bool = True
) -> dict[str, Any]:
    """Check field names and values of a write; relationships pass through unchanged.

    Raises:
        InvalidQueryError: an unknown field, a bad value, or a primary key when not allowed.
    """
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if key in info.relationships:
            checked[key] = value
            continue
        field = info.field(key)
        if field.primary_key and not allow_pk:
            raise InvalidQueryError(f"the primary key {key!r} cannot be changed")
        checked[key] = field.store(value)
    return checked


def reject_version(info: ModelInfo, values: Mapping[str, Any]) -> None:
    """Refuse a value for the optimistic-lock version, which the framework manages."""
    if info.version is not None and info.version.key in values:
        raise InvalidQueryError(
            f"{info.version.key!r} is managed by optimistic locking; do not set it"
        )


def check_entity(info: ModelInfo, entity: Any) -> None:
    """Check an entity given to `add`: its class, and decimals rounded as `create` rounds them.

    Raises:
        InvalidQueryError: the entity is not an instance of the model.
    """
    if not isinstance(entity, info.model):
        raise InvalidQueryError(f"expected a {info.model.__name__}, got {type(entity).__name__}")
    loaded = inspect(entity).dict
    for field in info.fields.values():
        value = loaded.get(field.key)
        if field.scale is not None and value is not None:
            rounded = quantized(field, value)
            if rounded != value or type(rounded) is not type(value):
                setattr(entity, field.key, rounded)


def column_names(info: ModelInfo, values: Mapping[str, Any]) -> list[str]:
    """The field names among `values`, relationships left out."""
    return [k for k in values if k not in info.relationships]
