"""Run one compiled INSERT over many rows with the driver's executemany, nothing in between.

SQLAlchemy's executemany path re-derives column defaults and bind processing for
every row through its execution context. For a statement whose parameters are only
the rows' own values and plain Python column defaults, that work can be planned
once per statement: the statement is compiled once, each parameter position gets
its value getter, and rows go to the driver as tuples through `exec_driver_sql`
(which still wraps driver errors, so error translation is unchanged). Anything
else (a SQL-expression parameter, a default that needs the execution context)
makes `plan_batch` return None and the caller falls back to `connection.execute`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Column, Table
from sqlalchemy.engine import Dialect

from orm_core.types import utcnow

Getter = Callable[[Mapping[str, Any]], Any]

_MAX_PLANS = 256
_plans: dict[tuple[Any, ...], BatchPlan | None] = {}


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """A compiled statement and how to turn one row into its parameters."""

    sql: str
    names: tuple[str, ...]
    getters: tuple[Getter, ...]
    positional: bool
    # The common shape, done with less Python per row: the rows' own values first
    # (read in one itemgetter call, no bind processing needed), then the defaults.
    head: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None = None
    tail: tuple[Getter, ...] = ()

    def parameters(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Return the driver parameters for `rows`: tuples, or dicts for named styles."""
        getters = [_resolved(g) for g in self.getters]
        if self.positional and self.head is not None:
            head, tail = self.head, [_resolved(g) for g in self.tail]
            return [head(row) + tuple([get(row) for get in tail]) for row in rows]
        if self.positional:
            return [tuple([get(row) for get in getters]) for row in rows]
        names = self.names
        return [dict(zip(names, [get(row) for get in getters], strict=True)) for row in rows]


def plan_batch(
    statement: Any, table: Table, dialect: Dialect, keys: Sequence[str], cache_key: tuple[Any, ...]
) -> BatchPlan | None:
    """Compile `statement` for rows holding the column keys `keys`; None if it cannot be planned."""
    full_key = (id(dialect), table, tuple(keys), *cache_key)
    if full_key in _plans:
        return _plans[full_key]
    plan = _build(statement, table, dialect, keys)
    if len(_plans) >= _MAX_PLANS:
        _plans.clear()
    _plans[full_key] = plan
    return plan


def _build(statement: Any, table: Table, dialect: Dialect, keys: Sequence[str]) -> BatchPlan | None:
    compiled = statement.compile(dialect=dialect, column_keys=list(keys), for_executemany=True)
    sql = compiled.string
    if "POSTCOMPILE" in sql or getattr(compiled, "effective_returning", None):
        return None
    names: list[str] = list(compiled.positiontup or compiled.binds)
    given = set(keys)
    getters: list[Getter] = []
    for name in names:
        column = table.c.get(name)
        if column is None:
            return None  # a bound value outside the rows, such as a literal in the update clause
        if name in given:
            getter: Getter | None = _value_getter(column, dialect)
        else:
            getter = _default_getter(column, dialect)
        if getter is None:
            return None
        getters.append(getter)
    plan = BatchPlan(sql, tuple(names), tuple(getters), positional=compiled.positional)
    count = len(keys)
    plain = all(table.c[n].type.bind_processor(dialect) is None for n in names[:count])
    if count > 1 and set(names[:count]) == given and plain:
        head = cast(Callable[[Mapping[str, Any]], tuple[Any, ...]], itemgetter(*names[:count]))
        plan = replace(plan, head=head, tail=tuple(getters[count:]))
    return plan


def _value_getter(column: Column[Any], dialect: Dialect) -> Getter:
    key = column.key
    process = column.type.bind_processor(dialect)
    if process is None:
        return lambda row: row[key]
    return lambda row: None if (value := row[key]) is None else process(value)


def _default_getter(column: Column[Any], dialect: Dialect) -> Getter | None:
    default = column.default
    if default is None or getattr(default, "is_sequence", False):
        return None
    process = column.type.bind_processor(dialect) or _identity
    arg = getattr(default, "arg", None)
    if getattr(default, "is_scalar", False):
        value = None if arg is None else process(arg)
        return lambda row: value
    function = getattr(arg, "__wrapped__", None)  # SQLAlchemy wraps defaults that take no context
    if not getattr(default, "is_callable", False) or not callable(function):
        return None
    if function is utcnow:
        return _PerStatement(lambda: process(utcnow()))
    return lambda row: None if (value := function()) is None else process(value)


class _PerStatement:
    """A default evaluated once per statement rather than per row.

    The framework's own timestamps (`TimestampMixin`'s `utcnow`) take one value for
    every row a statement writes, as the database's `now()` does for a transaction.
    """

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make

    def __call__(self, row: Mapping[str, Any]) -> Any:
        return self.make()


def _resolved(getter: Getter) -> Getter:
    if isinstance(getter, _PerStatement):
        value = getter.make()
        return lambda row: value
    return getter


def _identity(value: Any) -> Any:
    return value
