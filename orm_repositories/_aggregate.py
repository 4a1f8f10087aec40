"""`aggregate`: COUNT / SUM / AVG / MIN / MAX over the matching rows, optionally grouped.

Result keys: the group fields, then one key per aggregate. A single field name
gives the plain key (`sum="stock"` -> `"sum"`), a list gives one key per field
(`sum=["stock", "price"]` -> `"sum_stock"`, `"sum_price"`). `count=True` (or
`count="*"`) counts rows (`"count"`); `count="field"` counts rows where the field
is not NULL, under the same key `"count"`; `count=[...]` gives `"count_<field>"`
keys.

Value types are the same on every database: counts are `int`; SUM/MIN/MAX keep
the column's type (`Decimal` for `Numeric`, `int` for integers); AVG is a
`Decimal` over `Numeric` columns and a `float` over integer and float columns.
An aggregate over no rows is None (COUNT is 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, and_, func, not_, select

from orm_core.errors import InvalidQueryError
from orm_core.fields import FieldInfo, ModelInfo, check_value
from orm_repositories._select import criteria
from orm_repositories._target import Target, execute

_NUMBERS = (int, float, Decimal)
_ORDERED = (*_NUMBERS, str, date, datetime, time, timedelta)
_SQL_FUNCTIONS: dict[str, Callable[[Any], ColumnElement[Any]]] = {
    "sum": func.sum,
    "avg": func.avg,
    "min": func.min,
    "max": func.max,
}
_HAVING_OPERATORS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "eq": lambda e, v: e.is_(None) if v is None else e == v,
    "ne": lambda e, v: e.is_not(None) if v is None else e != v,
    "gt": lambda e, v: e > v,
    "gte": lambda e, v: e >= v,
    "lt": lambda e, v: e < v,
    "lte": lambda e, v: e <= v,
    "in": lambda e, v: e.in_(v),
    "not_in": lambda e, v: not_(e.in_(v)),
    "between": lambda e, v: and_(e >= v[0], e <= v[1]),
    "isnull": lambda e, v: e.is_(None) if v else e.is_not(None),
}


@dataclass(frozen=True, slots=True)
class Output:
    """One output column: its key, SQL expression, value check and result conversion."""

    key: str
    expression: Any
    check: Callable[[Any], Any]
    convert: Callable[[Any], Any]


async def aggregate(
    target: Target,
    where: Sequence[Any],
    lookups: Mapping[str, Any],
    *,
    group_by: Any,
    count: Any,
    functions: Mapping[str, Any],
    having: Any,
) -> list[dict[str, Any]]:
    """One dict per group (one in all without `group_by`), ordered by the groups."""
    info = target.info
    groups = [_group_output(info, name) for name in _names("group_by", group_by)]
    outputs = groups + _count_outputs(info, count)
    for kind, spec in functions.items():
        outputs += _function_outputs(info, kind, spec)
    if len(outputs) == len(groups) == 0:
        raise InvalidQueryError("aggregate needs group_by or one of count/sum/avg/min/max")
    by_key: dict[str, Output] = {}
    for output in outputs:
        if output.key in by_key:
            raise InvalidQueryError(f"two aggregate results are both named {output.key!r}")
        by_key[output.key] = output
    statement = select(*(o.expression.label(o.key) for o in outputs)).select_from(target.model)
    statement = statement.where(*criteria(target, where, lookups))
    if groups:
        statement = statement.group_by(*(g.expression for g in groups))
        statement = statement.order_by(*(g.expression for g in groups))
    if having:
        statement = statement.having(*(_having(by_key, k, v) for k, v in _mapping(having).items()))
    rows = (await execute(target, statement)).all()
    return [
        {o.key: o.convert(value) for o, value in zip(outputs, row, strict=True)} for row in rows
    ]


def _group_output(info: ModelInfo, name: str) -> Output:
    field = info.field(name)
    return Output(name, field.attribute, partial(check_value, field), _same)


def _count_outputs(info: ModelInfo, spec: Any) -> list[Output]:
    if spec is None or spec is False:
        return []
    if spec is True or spec == "*":
        return [Output("count", func.count(), _count_check, _to_int)]
    names = _names("count", spec)
    keyed = not isinstance(spec, str)
    return [
        Output(
            f"count_{name}" if keyed else "count",
            func.count(info.field(name).attribute),
            _count_check,
            _to_int,
        )
        for name in names
    ]


def _function_outputs(info: ModelInfo, kind: str, spec: Any) -> list[Output]:
    if spec is None:
        return []
    keyed = not isinstance(spec, str)
    outputs = []
    for name in _names(kind, spec):
        field = info.field(name)
        allowed = _NUMBERS if kind in ("sum", "avg") else _ORDERED
        if field.python_type not in allowed or field.python_type is bool:
            raise InvalidQueryError(
                f"{kind} cannot be computed over {name!r}",
                {"field": name, "type": getattr(field.python_type, "__name__", None)},
            )
        expression = _SQL_FUNCTIONS[kind](field.attribute)
        key = f"{kind}_{name}" if keyed else kind
        if kind in ("min", "max"):
            outputs.append(Output(key, expression, partial(check_value, field), _same))
        else:
            outputs.append(Output(key, expression, _number_check, _converter(kind, field)))
    return outputs


def _names(argument: str, spec: Any) -> list[str]:
    items = [spec] if isinstance(spec, str) else spec
    if not isinstance(items, Sequence) or not all(isinstance(i, str) for i in items):
        raise InvalidQueryError(f"{argument} takes a field name or a list of field names")
    if argument != "group_by" and not items:
        raise InvalidQueryError(f"{argument} got an empty list of fields")
    return list(items)


def _mapping(having: Any) -> Mapping[str, Any]:
    if not isinstance(having, Mapping):
        raise InvalidQueryError("having takes a dict such as {'sum__gt': 10}")
    return having


def _having(outputs: Mapping[str, Output], key: str, value: Any) -> ColumnElement[bool]:
    name, op = key, "eq"
    if key not in outputs:
        name, _, op = key.rpartition("__")
    output = outputs.get(name)
    if output is None or op not in _HAVING_OPERATORS:
        raise InvalidQueryError(
            f"unknown having key {key!r}",
            {"allowed": sorted(outputs), "operators": list(_HAVING_OPERATORS)},
        )
    if op == "isnull":
        if not isinstance(value, bool):
            raise InvalidQueryError(f"{key} takes True or False")
    elif op in ("in", "not_in"):
        if isinstance(value, str | bytes) or not isinstance(value, Sequence | set | frozenset):
            raise InvalidQueryError(f"{key} takes a list of values")
        value = [output.check(v) for v in value]
    elif op == "between":
        if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 2:
            raise InvalidQueryError(f"{key} takes a (low, high) pair")
        value = (output.check(value[0]), output.check(value[1]))
    elif value is not None or op not in ("eq", "ne"):
        value = output.check(value)
    return _HAVING_OPERATORS[op](output.expression, value)


def _count_check(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidQueryError("a count is compared with an integer", {"value": repr(value)})
    return value


def _number_check(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, _NUMBERS):
        raise InvalidQueryError("an aggregate is compared with a number", {"value": repr(value)})
    return value


def _same(value: Any) -> Any:
    return value


def _to_int(value: Any) -> Any:
    return None if value is None else int(value)


def _to_float(value: Any) -> Any:
    return None if value is None else float(value)


def _to_decimal(value: Any) -> Any:
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def _converter(kind: str, field: FieldInfo) -> Callable[[Any], Any]:
    if field.python_type is Decimal:
        return _to_decimal
    if kind == "sum" and field.python_type is int:
        return _to_int
    return _to_float
