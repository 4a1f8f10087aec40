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

import builtins
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, and_, func, not_, select

from orm_core.errors import InvalidQueryError
from orm_core.fields import Field, check_value
from orm_repositories.base import ModelT
from orm_repositories.reading import ReadMixin

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


class AggregateMixin(ReadMixin[ModelT]):
    """`aggregate`: grouped statistics in one query."""

    async def aggregate(
        self,
        *where: Any,
        group_by: str | Sequence[str] = (),
        count: bool | str | Sequence[str] | None = None,
        sum: str | Sequence[str] | None = None,
        avg: str | Sequence[str] | None = None,
        min: str | Sequence[str] | None = None,
        max: str | Sequence[str] | None = None,
        having: Mapping[str, Any] | None = None,
        **lookups: Any,
    ) -> builtins.list[dict[str, Any]]:
        """Return one dict per group (one in all without `group_by`), ordered by the groups.

        `having` filters groups with the lookup syntax on the result keys, e.g.
        `having={"sum__gt": 10}` or `having={"count__gte": 2, "category": "a"}`.

        Raises:
            InvalidQueryError: an unknown field, a SUM/AVG over a non-numeric field,
                a bad `having` key or value, or nothing to compute.
        """
        groups = [self._group_output(name) for name in _names("group_by", group_by)]
        outputs = groups + self._count_outputs(count)
        for name, spec in (("sum", sum), ("avg", avg), ("min", min), ("max", max)):
            outputs += self._function_outputs(name, spec)
        if len(outputs) == len(groups) == 0:
            raise InvalidQueryError("aggregate needs group_by or one of count/sum/avg/min/max")
        by_key: dict[str, Output] = {}
        for output in outputs:
            if output.key in by_key:
                raise InvalidQueryError(f"two aggregate results are both named {output.key!r}")
            by_key[output.key] = output
        stmt = select(*(o.expression.label(o.key) for o in outputs)).select_from(self.model)
        stmt = stmt.where(*self._criteria(where, lookups))
        if groups:
            stmt = stmt.group_by(*(g.expression for g in groups))
            stmt = stmt.order_by(*(g.expression for g in groups))
        if having:
            stmt = stmt.having(*(_having(by_key, k, v) for k, v in _mapping(having).items()))
        rows = (await self._execute(stmt)).all()
        return [
            {o.key: o.convert(value) for o, value in zip(outputs, row, strict=True)}
            for row in rows
        ]

    def _group_output(self, name: str) -> Output:
        field = self.info.field(name)
        return Output(name, field.attribute, partial(check_value, field), _same)

    def _count_outputs(self, spec: bool | str | Sequence[str] | None) -> builtins.list[Output]:
        if spec is None or spec is False:
            return []
        if spec is True or spec == "*":
            return [Output("count", func.count(), _count_check, _to_int)]
        names = _names("count", spec)
        keyed = not isinstance(spec, str)
        return [
            Output(
                f"count_{name}" if keyed else "count",
                func.count(self.info.field(name).attribute),
                _count_check,
                _to_int,
            )
            for name in names
        ]

    def _function_outputs(self, kind: str, spec: Any) -> builtins.list[Output]:
        if spec is None:
            return []
        keyed = not isinstance(spec, str)
        outputs = []
        for name in _names(kind, spec):
            field = self.info.field(name)
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


def _names(argument: str, spec: Any) -> builtins.list[str]:
    items = [spec] if isinstance(spec, str) else spec
    if not isinstance(items, Sequence) or not all(isinstance(i, str) for i in items):
        raise InvalidQueryError(f"{argument} takes a field name or a list of field names")
    if argument != "group_by" and not items:
        raise InvalidQueryError(f"{argument} got an empty list of fields")
    return builtins.list(items)


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
            {"allowed": sorted(outputs), "operators": builtins.list(_HAVING_OPERATORS)},
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


def _converter(kind: str, field: Field) -> Callable[[Any], Any]:
    if field.python_type is Decimal:
        return _to_decimal
    if kind == "sum" and field.python_type is int:
        return _to_int
    return _to_float
