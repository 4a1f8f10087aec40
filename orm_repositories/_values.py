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
from orm_core.tenancy import tenant_value
from orm_repositories._target import Target


def check_values(
    target: Target, values: Mapping[str, Any], *, allow_pk: bool = True, inserting: bool = False
) -> dict[str, Any]:
    """Check field names and values of a write; relationships pass through unchanged.

    A tenant model's `tenant_id` is the unit of work's tenant: filled in for an insert,
    and never another one.

    Raises:
        InvalidQueryError: an unknown field, a bad value, a primary key when not allowed,
            or another tenant's id.
        TenantRequiredError: a tenant model without a tenant.
    """
    info = target.info
    if info.tenant is not None and (inserting or info.tenant.key in values):
        key = info.tenant.key
        values = {**values, key: tenant_value(target.tenant, info.model, values.get(key))}
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


def check_entity(target: Target, entity: Any, *, inserting: bool = False) -> None:
    """Check an entity given to `add`: its class, its tenant, decimals rounded as `create` does.

    Raises:
        InvalidQueryError: the entity is not an instance of the model, or of another tenant.
    """
    info = target.info
    if not isinstance(entity, info.model):
        raise InvalidQueryError(f"expected a {info.model.__name__}, got {type(entity).__name__}")
    loaded = inspect(entity).dict
    if inserting and info.tenant is not None:
        key = info.tenant.key
        stamped = tenant_value(target.tenant, info.model, loaded.get(key))
        if loaded.get(key) != stamped:
            setattr(entity, key, stamped)
    for field in info.fields.values():
        value = loaded.get(field.key)
        if field.scale is not None and value is not None:
            rounded = quantized(field, value)
            if rounded != value or type(rounded) is not type(value):
                setattr(entity, field.key, rounded)


def column_names(info: ModelInfo, values: Mapping[str, Any]) -> list[str]:
    """The field names among `values`, relationships left out."""
    return [k for k in values if k not in info.relationships]
