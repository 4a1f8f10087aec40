"""Keyset ("cursor") pagination: `paginate_cursor`.

Each page is one indexed range query, `WHERE (sort keys) > (last row's keys)
ORDER BY sort keys LIMIT n+1`, so a deep page costs the same as the first one and
a walk over all pages never repeats a row, whatever is inserted meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true, tuple_

from orm_core.cursor import decode_cursor, encode_cursor
from orm_core.errors import InvalidQueryError
from orm_core.fields import FieldInfo, check_value
from orm_core.pagination import CursorPage
from orm_repositories._loading import Load, with_load
from orm_repositories._select import criteria
from orm_repositories._target import Target, fetch_all


@dataclass(frozen=True, slots=True)
class SortKey:
    """One column of a keyset ordering.

    Nullable columns sort NULLs after every value going up (`NULLS LAST` ascending,
    `NULLS FIRST` descending, as PostgreSQL does by default), on every backend.
    """

    field: FieldInfo
    descending: bool

    @property
    def spec(self) -> str:
        return f"-{self.field.key}" if self.descending else self.field.key

    @property
    def nullable(self) -> bool:
        return bool(self.field.column.nullable)

    def after(self, value: Any) -> ColumnElement[bool]:
        """Rows strictly after `value` in this key's order."""
        column = self.field.attribute
        if value is None:  # NULL is the largest value
            return column.is_not(None) if self.descending else false()
        if self.descending:
            below: ColumnElement[bool] = column < value
            return below
        above: ColumnElement[bool] = column > value
        return or_(above, column.is_(None)) if self.nullable else above

    def equal(self, value: Any) -> ColumnElement[bool]:
        column = self.field.attribute
        return column.is_(None) if value is None else column == value


def keyset_predicate(keys: Sequence[SortKey], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows after the position `values`: a row-value comparison when exact, else an OR-chain.

    `(a, b) > (x, y)` serves one direction over NOT NULL columns and uses a composite
    index directly; mixed directions or NULLs need `a > x OR (a = x AND b > y)`.
    """
    directions = {k.descending for k in keys}
    if len(directions) == 1 and not any(k.nullable for k in keys):
        if len(keys) == 1:
            return keys[0].after(values[0])
        row = tuple_(*(k.field.attribute for k in keys))
        position = tuple_(*values)
        return row < position if keys[0].descending else row > position
    branches: list[ColumnElement[bool]] = []
    for index, key in enumerate(keys):
        equal = [keys[j].equal(values[j]) for j in range(index)]
        branches.append(and_(true(), *equal, key.after(values[index])))
    return or_(*branches)


async def paginate_cursor(
    target: Target,
    where: Sequence[Any],
    lookups: Mapping[str, Any],
    *,
    after: str | None,
    limit: Any,
    order_by: Any,
    max_page_size: int,
    load: Load = None,
) -> CursorPage[Any]:
    """The page after the cursor `after` (the first page when None)."""
    keys = sort_keys(target, order_by)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= max_page_size:
        raise InvalidQueryError(
            f"limit must be an integer from 1 to {max_page_size}", {"limit": limit}
        )
    specs = [k.spec for k in keys]
    scope = f"{target.info.table_name}:{target.model.__name__}"
    found = criteria(target, where, lookups)
    if after is not None:
        raw = decode_cursor(after, scope, specs)
        values = [_cursor_value(k, v) for k, v in zip(keys, raw, strict=True)]
        found.append(keyset_predicate(keys, values))
    statement = select(target.model).where(*found).order_by(*order_terms(target, keys))
    statement = statement.limit(limit + 1)
    rows = await fetch_all(target, with_load(statement, target, load))
    items = rows[:limit]
    if len(rows) <= limit:
        return CursorPage(items=items, next_cursor=None, has_next=False)
    last = items[-1]
    cursor = encode_cursor(scope, specs, [getattr(last, k.field.key) for k in keys])
    return CursorPage(items=items, next_cursor=cursor, has_next=True)


def order_terms(target: Target, keys: Sequence[SortKey]) -> list[ColumnElement[Any]]:
    """The ORDER BY terms of a keyset walk (NULLs after every value going up)."""
    backend = target.backend
    return [
        term
        for k in keys
        for term in backend.order_terms(
            k.field.attribute, descending=k.descending, nullable=k.nullable
        )
    ]


def sort_keys(target: Target, order_by: Any) -> list[SortKey]:
    """The sort keys of `order_by` (field names only), the primary key appended."""
    info = target.info
    if order_by is None or (order_by == "id" and "id" not in info.fields):
        order_by = []
    items = order_by if isinstance(order_by, list | tuple) else [order_by]
    keys: list[SortKey] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidQueryError(
                "paginate_cursor orders by field names such as 'price' or '-price'",
                {"order_by": repr(item)},
            )
        name = item.strip()
        field = info.field(name.lstrip("+-"))
        if any(k.field.key == field.key for k in keys):
            raise InvalidQueryError(f"field {field.key!r} appears twice in order_by")
        keys.append(SortKey(field, name.startswith("-")))
    named = {k.field.key for k in keys}
    keys.extend(SortKey(f, False) for f in info.primary_key if f.key not in named)
    return keys


def _cursor_value(key: SortKey, value: Any) -> Any:
    if value is None and not key.nullable:
        raise InvalidQueryError(f"the cursor holds NULL for non-null {key.field.key!r}")
    return check_value(key.field, value)
