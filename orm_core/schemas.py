"""Pydantic models derived from SQLAlchemy models: `schema_for`.

Each column becomes a field of its Python type, with the column's rules as
constraints: `String(n)` -> `max_length=n`; `Numeric(p, s)` -> `max_digits=p`,
`decimal_places=s`; integer columns -> the range their SQL type holds; `Enum` ->
the enum class; JSON -> any value. A nullable column accepts None. A field is
required unless its column is nullable, has a default (a plain default becomes
the field's default; a callable or server default, or an autoincrement key,
makes it optional with None, meaning "let the database decide").

`optional=True` makes every field optional with default None, for PATCH bodies:
read the sent fields with `model_dump(exclude_unset=True)`. A NOT NULL column
still rejects an explicit null, and its JSON schema shows neither null nor a default.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, create_model
from pydantic import Field as PydanticField
from sqlalchemy import JSON, Integer, Numeric, String
from sqlalchemy.types import TypeEngine

from orm_core.checkers import impl_type, int_limit
from orm_core.errors import InvalidQueryError
from orm_core.fields import FieldInfo, model_info


def schema_for(
    model: type,
    *,
    name: str | None = None,
    include: Collection[str] | None = None,
    exclude: Collection[str] | None = None,
    optional: bool = False,
) -> type[BaseModel]:
    """Return a pydantic model (with `from_attributes=True`) mirroring `model`'s columns.

    The same arguments return the same class, so web frameworks see one schema.

    Raises:
        InvalidQueryError: `model` is not mapped, or `include`/`exclude` names an
            unknown field.
    """
    return _schema(model, name, _names(include), _names(exclude) or (), optional)


def _names(names: Collection[str] | None) -> tuple[str, ...] | None:
    if names is None:
        return None
    return (names,) if isinstance(names, str) else tuple(names)


@lru_cache(maxsize=256)
def _schema(
    model: type,
    name: str | None,
    include: tuple[str, ...] | None,
    exclude: tuple[str, ...],
    optional: bool,
) -> type[BaseModel]:
    info = model_info(model)
    for key in [*(include or ()), *exclude]:
        info.field(key)  # raises InvalidQueryError for unknown names
    fields: dict[str, Any] = {}
    for key, field in info.fields.items():
        if (include is not None and key not in include) or key in exclude:
            continue
        fields[key] = _definition(field, optional)
    title = name or f"{model.__name__}{'Patch' if optional else ''}Schema"
    if not title.isidentifier():
        raise InvalidQueryError(f"schema name {title!r} is not a valid identifier")
    schema: type[BaseModel] = create_model(
        title, __config__=ConfigDict(from_attributes=True), **fields
    )
    return schema


def _definition(field: FieldInfo, optional: bool) -> tuple[Any, Any]:
    column = field.column
    type_ = impl_type(column.type)
    annotation: Any = Any if isinstance(type_, JSON) else (field.python_type or Any)
    constraints = _constraints(type_, field.python_type)
    declared = field.declared
    if declared is not None:
        constraints = _merged(constraints, declared.pydantic())
        if declared.choices is not None:
            annotation = Literal[declared.choices]  # an enum in the JSON schema
        for validator in declared.validators:
            annotation = Annotated[annotation, AfterValidator(validator)]
    if column.nullable and annotation is not Any:
        annotation = annotation | None
    description = column.comment or column.doc
    if optional:
        default: Any = None
    elif column.default is not None and column.default.is_scalar:
        default = getattr(column.default, "arg", None)
    elif column.nullable or _generated(field):
        default = None
    else:
        default = ...
    if optional and not column.nullable:
        # left out means "keep"; the document must not suggest that null is a value
        constraints["json_schema_extra"] = _no_default
    return annotation, PydanticField(default, description=description, **constraints)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _merged(found: dict[str, Any], declared: dict[str, Any]) -> dict[str, Any]:
    """The column type's limits with the declared rules; the tighter bound wins."""
    merged = {**found, **declared}
    for key, pick in (("max_length", min), ("le", min), ("ge", max)):
        if key in found and key in declared:
            merged[key] = pick(found[key], declared[key])
    return merged


def _generated(field: FieldInfo) -> bool:
    column = field.column
    if column.default is not None or column.server_default is not None:
        return True
    table_pk = list(column.table.primary_key.columns)
    return (
        field.primary_key
        and field.python_type is int
        and column.autoincrement in (True, "auto")
        and len(table_pk) == 1
    )


def _constraints(type_: TypeEngine[Any], python_type: type | None) -> dict[str, Any]:
    if isinstance(type_, String) and type_.length is not None and python_type is str:
        return {"max_length": type_.length}
    if python_type is Decimal and isinstance(type_, Numeric) and type_.precision is not None:
        found: dict[str, Any] = {"max_digits": type_.precision}
        if type_.scale is not None:
            found["decimal_places"] = type_.scale
        return found
    if python_type is int and isinstance(type_, Integer):
        bound = int_limit(type_)
        return {"ge": -bound, "le": bound - 1}
    return {}
