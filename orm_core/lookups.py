"""Turn `field__op=value` lookups and `order_by` specs into SQL expressions.

Every name and value is checked against the model first, so a typo or a value of
the wrong type fails with `InvalidQueryError` before any SQL runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, not_
from sqlalchemy.sql.elements import ClauseElement

from orm_core.errors import InvalidQueryError
from orm_core.fields import FieldInfo, ModelInfo, check_value, is_sql, model_info

OPERATORS: tuple[str, ...] = (
    "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "icontains",
    "startswith", "istartswith", "endswith", "iendswith", "isnull", "between",
)  # fmt: skip
_TEXT_OPERATORS = frozenset(
    {"contains", "icontains", "startswith", "istartswith", "endswith", "iendswith"}
)
_SEPARATOR = "__"
INLINE_IN_THRESHOLD = 10_000


def split_lookup(info: ModelInfo, key: str) -> tuple[FieldInfo, str]:
    """Split `price__gt` into the `price` field and the `gt` operator."""
    if key in info.fields:
        return info.fields[key], "eq"
    name, sep, op = key.rpartition(_SEPARATOR)
    if not sep:
        return info.field(key), "eq"
    field = info.field(name)
    if op not in OPERATORS:
        raise InvalidQueryError(
            f"unknown operator {op!r} in {key!r}", {"operator": op, "allowed": list(OPERATORS)}
        )
    return field, op


def build_filters(model: type, lookups: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """Return one SQL condition per lookup; they are meant to be AND-ed."""
    info = model_info(model)
    conditions: list[ColumnElement[bool]] = []
    for key, value in lookups.items():
        field, op = split_lookup(info, key)
        if op == "eq" and isinstance(value, Mapping) and _is_operator_dict(field, value):
            for inner_op, inner_value in value.items():
                conditions.append(condition(field, inner_op, inner_value))
        else:
            conditions.append(condition(field, op, value))
    return conditions


def _is_operator_dict(field: FieldInfo, value: Mapping[Any, Any]) -> bool:
    if not value:
        raise InvalidQueryError(f"empty operator mapping for {field.key!r}")
    unknown = [k for k in value if k not in OPERATORS]
    if not unknown:
        return True
    if field.python_type is dict:
        return False  # a JSON column compared with a dict value
    raise InvalidQueryError(
        f"unknown operator {unknown[0]!r} for {field.key!r}",
        {"operator": unknown[0], "allowed": list(OPERATORS)},
    )


def condition(field: FieldInfo, op: str, value: Any) -> ColumnElement[bool]:
    """Build the SQL condition for one field, operator and value."""
    if op not in OPERATORS:
        raise InvalidQueryError(f"unknown operator {op!r}", {"allowed": list(OPERATORS)})
    column = field.attribute
    if field.is_json and op != "isnull" and not (op in ("eq", "ne") and value is None):
        raise InvalidQueryError(
            f"{field.key!r} is a JSON field: only isnull (or = None) can filter it",
            {"field": field.key, "operator": op},
        )
    if op == "isnull":
        if not isinstance(value, bool):
            raise InvalidQueryError(f"{field.key}__isnull takes True or False")
        return column.is_(None) if value else column.is_not(None)
    if op in _TEXT_OPERATORS:
        return _text_condition(field, op, value)
    if op in ("in", "not_in"):
        values = _sequence(field, op, value)
        clause = column.in_(_in_values(field, values))
        return not_(clause) if op == "not_in" else clause
    if op == "between":
        low, high = _pair(field, value)
        return and_(column >= low, column <= high)
    if value is None:
        if op == "eq":
            return column.is_(None)
        if op == "ne":
            return column.is_not(None)
        raise InvalidQueryError(f"{field.key}__{op} does not take None")
    value = check_value(field, value)
    builders: dict[str, Callable[[Any], ColumnElement[bool]]] = {
        "eq": column.__eq__,
        "ne": column.__ne__,
        "gt": column.__gt__,
        "gte": column.__ge__,
        "lt": column.__lt__,
        "lte": column.__le__,
    }
    return builders[op](value)


def _text_condition(field: FieldInfo, op: str, value: Any) -> ColumnElement[bool]:
    if not field.is_string:
        raise InvalidQueryError(f"{op} needs a text field; {field.key!r} is not one")
    if not isinstance(value, str):
        raise InvalidQueryError(f"{field.key}__{op} takes a string")
    method = getattr(field.attribute, op)
    result: ColumnElement[bool] = method(value, autoescape=True)
    return result


def _sequence(field: FieldInfo, op: str, value: Any) -> list[Any]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise InvalidQueryError(f"{field.key}__{op} takes a list of values")
    return [check_value(field, v) for v in value]


def _in_values(field: FieldInfo, values: list[Any]) -> Any:
    """Bind an IN list; a very long one is rendered inline at execution time.

    Drivers cap the bind parameters of one statement (32,767 for asyncpg), so a
    list past `INLINE_IN_THRESHOLD` is sent as typed, escaped literals instead.
    """
    if len(values) <= INLINE_IN_THRESHOLD:
        return values
    return bindparam(
        f"{field.key}_in",
        values,
        type_=field.column.type,
        unique=True,
        expanding=True,
        literal_execute=True,
    )


def _pair(field: FieldInfo, value: Any) -> tuple[Any, Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 2:
        raise InvalidQueryError(f"{field.key}__between takes a (low, high) pair")
    low, high = value
    if low is None or high is None:
        raise InvalidQueryError(f"{field.key}__between bounds must not be None")
    return check_value(field, low), check_value(field, high)


def build_order_by(model: type, order_by: Any) -> list[ColumnElement[Any]]:
    """Turn `"price"`, `"-price"`, a list of those, or SQL expressions into ORDER BY terms."""
    if order_by is None:
        return []
    items = order_by if isinstance(order_by, list | tuple) else [order_by]
    info = model_info(model)
    terms: list[ColumnElement[Any]] = []
    for item in items:
        if isinstance(item, str):
            name = item.strip()
            descending = name.startswith("-")
            name = name.lstrip("+-")
            if not name:
                raise InvalidQueryError("empty order_by field")
            attribute = info.field(name).attribute
            terms.append(attribute.desc() if descending else attribute.asc())
        elif isinstance(item, ClauseElement) or is_sql(item):
            terms.append(item)
        else:
            raise InvalidQueryError(f"order_by takes field names or SQL expressions, not {item!r}")
    return terms
