"""Declared value constraints: rules a column states once, in `mapped_column(info={...})`.

`gt`, `ge`, `lt`, `le`, `min_length`, `max_length`, `pattern` (pydantic's regex semantics:
the pattern is searched for), `choices` (a list) and `validators` (callables taking the
value and returning the value to store, or raising `ValueError`). `Declared.check` runs
inside the field's `store`, so every write path checks them before any SQL; bounds,
lengths and choices also become CHECK constraints (for values the database computes),
and `schema_for` carries them into pydantic.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Column, Table, event, func
from sqlalchemy.orm import Mapper

from orm_core.errors import InvalidQueryError

BOUNDS = ("gt", "ge", "lt", "le")
LENGTHS = ("min_length", "max_length")
KEYS = (*BOUNDS, *LENGTHS, "pattern", "choices", "validators")
_COMPARABLE = (int, float, Decimal, date, datetime, time)
_SQL_NUMBERS = (int, float, Decimal)


@dataclass(frozen=True, slots=True)
class Declared:
    """The value constraints one column declares."""

    key: str
    gt: Any = None
    ge: Any = None
    lt: Any = None
    le: Any = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: re.Pattern[str] | None = None
    choices: tuple[Any, ...] | None = None
    validators: tuple[Callable[[Any], Any], ...] = ()

    @classmethod
    def of(cls, key: str, info: Mapping[str, Any]) -> Declared | None:
        """Read the constraints declared in a column's `info`; None when there are none.

        Raises:
            TypeError: a declaration of the wrong shape (a model definition mistake).
        """
        given = {k: info[k] for k in KEYS if k in info}
        if not given:
            return None
        for name in BOUNDS:
            if name in given and not isinstance(given[name], _COMPARABLE):
                raise TypeError(f"{key}: {name} must be a number, date or time")
        for name in LENGTHS:
            value = given.get(name)
            if name in given and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(f"{key}: {name} must be an integer")
        pattern = given.pop("pattern", None)
        choices = given.pop("choices", None)
        validators = given.pop("validators", ())
        if choices is not None and (isinstance(choices, str) or not isinstance(choices, Sequence)):
            raise TypeError(f"{key}: choices must be a list")
        if callable(validators):
            validators = (validators,)
        if not all(callable(v) for v in validators):
            raise TypeError(f"{key}: validators must be callables")
        return cls(
            key,
            **given,
            pattern=re.compile(pattern) if pattern is not None else None,
            choices=tuple(choices) if choices is not None else None,
            validators=tuple(validators),
        )

    @property
    def needs_python(self) -> bool:
        """Whether only Python can check the rule (a value computed by SQL would escape it)."""
        return self.pattern is not None or bool(self.validators)

    def check(self, value: Any) -> Any:
        """Check a value about to be stored; return what to store.

        Raises:
            InvalidQueryError: a rule is broken (`details["field"]` names the column).
        """
        for name, holds in _COMPARE.items():
            bound = getattr(self, name)
            if bound is not None and not holds(value, bound):
                raise self._broken(name, f"must be {_WORDS[name]} {bound}", value)
        if self.min_length is not None and len(value) < self.min_length:
            raise self._broken("min_length", f"must be at least {self.min_length} long", value)
        if self.max_length is not None and len(value) > self.max_length:
            raise self._broken("max_length", f"must be at most {self.max_length} long", value)
        if self.pattern is not None and not self.pattern.search(value):
            raise self._broken("pattern", f"must match {self.pattern.pattern!r}", value)
        if self.choices is not None and value not in self.choices:
            raise self._broken("choices", f"must be one of {list(self.choices)}", value)
        for validator in self.validators:
            try:
                value = validator(value)
            except ValueError as exc:
                raise self._broken("validators", str(exc) or "is not valid", value) from exc
        return value

    def refuse_sql(self) -> InvalidQueryError:
        """The error for a SQL expression written to a column only Python can check."""
        return InvalidQueryError(
            f"{self.key!r} declares a pattern or validators: it takes values, not SQL expressions",
            {"field": self.key},
        )

    def sql_checks(self, column: Column[Any]) -> list[CheckConstraint]:
        """CHECK constraints for the bounds, lengths and choices (not patterns or validators)."""
        checks: list[tuple[str, Any]] = []
        for name, build in _COMPARE.items():
            bound = getattr(self, name)
            if isinstance(bound, _SQL_NUMBERS):
                checks.append((name, build(column, bound)))
        if self.min_length is not None:
            checks.append(("min_length", func.length(column) >= self.min_length))
        if self.max_length is not None:
            checks.append(("max_length", func.length(column) <= self.max_length))
        if self.choices is not None:
            checks.append(("choices", column.in_(self.choices)))
        return [CheckConstraint(sql, name=f"{column.name}_{name}") for name, sql in checks]

    def pydantic(self) -> dict[str, Any]:
        """Keyword arguments of `pydantic.Field` standing for the declared rules."""
        found: dict[str, Any] = {}
        for name in (*BOUNDS, *LENGTHS):
            value = getattr(self, name)
            if value is not None:
                found[name] = value
        if self.pattern is not None:
            found["pattern"] = self.pattern.pattern
        return found

    def upper(self) -> tuple[Any, bool] | None:
        """The upper bound of numeric values and whether it is inclusive."""
        if self.le is not None:
            return self.le, True
        return (self.lt, False) if self.lt is not None else None

    def lower(self) -> tuple[Any, bool] | None:
        """The lower bound of numeric values and whether it is inclusive."""
        if self.ge is not None:
            return self.ge, True
        return (self.gt, False) if self.gt is not None else None

    def _broken(self, rule: str, why: str, value: Any) -> InvalidQueryError:
        return InvalidQueryError(
            f"invalid value for {self.key!r}: {why}",
            {"field": self.key, "constraint": rule, "value_type": type(value).__name__},
        )


_WORDS = {"gt": "greater than", "ge": "at least", "lt": "less than", "le": "at most"}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


def declare_check_constraints(base: type) -> None:
    """Give the tables of `base`'s models the CHECK constraints their columns declare."""

    @event.listens_for(base, "after_mapper_constructed", propagate=True)
    def _checks(mapper: Mapper[Any], _class: type) -> None:
        table = mapper.local_table
        if not isinstance(table, Table):
            return
        present = [str(c.name) for c in table.constraints if isinstance(c, CheckConstraint)]
        for column in table.columns:
            prop = mapper._columntoproperty.get(column)
            declared = Declared.of(prop.key if prop is not None else column.key, column.info)
            if declared is None:
                continue
            for check in declared.sql_checks(column):
                if not any(name.endswith(str(check.name)) for name in present):
                    table.append_constraint(check)
