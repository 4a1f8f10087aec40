"""What identifies a cached read, and which tables it reads.

Arguments become canonical JSON (`orm_core.caching.codec`, so `1`, `True`, `"1"` and
`Decimal("1")` never share a key); SQL expressions are compiled for the session's
dialect and keyed by their text and bound values. The tables a read depends on are
the model's, those its lookups and `order_by` walk through, those its SQL expressions
name, and those `load=` reads. An expression holding raw SQL text hides its tables,
so such a read is not cached.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Table, inspect
from sqlalchemy.sql import ClauseElement, visitors
from sqlalchemy.sql.elements import TextClause

from orm_core.caching.codec import UnencodableError, encode
from orm_core.errors import InvalidQueryError
from orm_core.lookups import SEPARATOR, parse_lookup
from orm_core.tenancy import ALL_TENANTS
from orm_repositories._cache_entities import NotCacheableError
from orm_repositories._target import Target


class ReadKey:
    """Collects a read's key material and tables."""

    def __init__(self, target: Target, owner: str, method: str, schema: str | None) -> None:
        self.target = target
        self.tables: set[Table] = set(_model_tables(target.model))
        tenant = target.tenant
        marker = ["all"] if tenant is ALL_TENANTS else tenant
        self.parts: list[Any] = [owner, method, target.scope, marker, schema]

    def add(self, *values: Any) -> None:
        """Add plain argument values (ids, limits, names …)."""
        try:
            self.parts.extend(encode(value) for value in values)
        except UnencodableError as exc:
            raise NotCacheableError(str(exc)) from exc

    def where(self, expressions: Iterable[Any]) -> None:
        """Add SQL expressions: their compiled text, bound values and tables."""
        self.parts.append([self._expression(e) for e in expressions])

    def lookups(self, lookups: Mapping[str, Any]) -> None:
        """Add `field__op=value` lookups and the tables their relationships reach."""
        for key in lookups:
            self._path_tables(key)
        self.add(dict(sorted(lookups.items())))

    def order_by(self, order_by: Any) -> None:
        """Add an `order_by` spec (names, paths, expressions)."""
        items = order_by if isinstance(order_by, list | tuple) else [order_by]
        spec: list[Any] = []
        for item in items:
            if isinstance(item, str):
                name = item.strip().lstrip("+-")
                if SEPARATOR in name:
                    self._path_tables(name)
                spec.append(item)
            elif item is None:
                spec.append(None)
            else:
                spec.append(["sql", self._expression(item)])
        self.parts.append(spec)

    def _path_tables(self, key: str) -> None:
        try:
            path = parse_lookup(self.target.model, key)
        except InvalidQueryError as exc:
            raise NotCacheableError(str(exc)) from exc
        for step in path.steps:
            prop = step.attribute.property
            self.tables.update(t for t in prop.mapper.tables if isinstance(t, Table))
            if isinstance(prop.secondary, Table):
                self.tables.add(prop.secondary)

    def _expression(self, expression: Any) -> Any:
        if not isinstance(expression, ClauseElement):
            raise NotCacheableError(f"not a SQL expression: {expression!r}")
        for element in visitors.iterate(expression):
            if isinstance(element, TextClause):
                raise NotCacheableError("raw SQL text hides the tables it reads")
            table = element if isinstance(element, Table) else getattr(element, "table", None)
            if isinstance(table, Table):
                self.tables.add(table.metadata.tables.get(table.key, table))
        compiled = expression.compile(dialect=self.target.backend.dialect)
        try:
            return [str(compiled), encode(dict(sorted(compiled.params.items())))]
        except UnencodableError as exc:
            raise NotCacheableError(str(exc)) from exc


_TABLES: dict[type, tuple[Table, ...]] = {}


def _model_tables(model: type) -> tuple[Table, ...]:
    found = _TABLES.get(model)
    if found is None:
        mapped: Any = inspect(model).tables
        found = _TABLES[model] = tuple(t for t in mapped if isinstance(t, Table))
    return found
