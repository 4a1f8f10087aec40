"""Turn `order_by` specs into ORDER BY terms, following to-one relationships.

`"price"`, `"-price"`, `"author__username"` (a to-one path: the related table is
outer-joined once per path), a list of those, or SQL expressions. A path through a
collection would repeat rows, so it is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ClauseElement

from orm_core.errors import InvalidQueryError
from orm_core.fields import is_sql, model_info
from orm_core.lookups import SEPARATOR, parse_lookup


@dataclass(slots=True)
class Ordering:
    """ORDER BY terms and the outer joins they need."""

    terms: list[ColumnElement[Any]] = field(default_factory=list)
    joins: list[Any] = field(default_factory=list)

    def apply(self, statement: Select[Any]) -> Select[Any]:
        """`statement` with the joins and the ORDER BY terms added."""
        for join in self.joins:
            statement = statement.outerjoin(join)
        return statement.order_by(*self.terms)


def build_order_by(model: type, order_by: Any) -> Ordering:
    """Parse `order_by` for `model`.

    Raises:
        InvalidQueryError: an unknown field or relationship, a path through a
            collection, or something that is neither a name nor an expression.
    """
    ordering = Ordering()
    if order_by is None:
        return ordering
    items = order_by if isinstance(order_by, list | tuple) else [order_by]
    aliases: dict[tuple[str, ...], Any] = {}
    for item in items:
        if isinstance(item, str):
            name = item.strip()
            descending = name.startswith("-")
            name = name.lstrip("+-")
            if not name:
                raise InvalidQueryError("empty order_by field")
            column = _column(model, name, ordering, aliases)
            ordering.terms.append(column.desc() if descending else column.asc())
        elif isinstance(item, ClauseElement) or is_sql(item):
            ordering.terms.append(item)
        else:
            raise InvalidQueryError(f"order_by takes field names or SQL expressions, not {item!r}")
    return ordering


def _column(model: type, name: str, ordering: Ordering, aliases: dict[tuple[str, ...], Any]) -> Any:
    if SEPARATOR not in name:
        return model_info(model).field(name).attribute
    path = parse_lookup(model, name)
    if path.op != "eq" or path.field is None:
        raise InvalidQueryError(f"order_by {name!r} must end at a field")
    parent: Any = model
    for index, step in enumerate(path.steps):
        if step.collection:
            raise InvalidQueryError(
                f"order_by {name!r} goes through the collection {step.key!r}: "
                "ordering by it would repeat rows",
                {"order_by": name},
            )
        key = tuple(s.key for s in path.steps[: index + 1])
        alias = aliases.get(key)
        if alias is None:
            alias = aliases[key] = aliased(step.target)
            ordering.joins.append(getattr(parent, step.key).of_type(alias))
        parent = alias
    return getattr(parent, path.field.key)
