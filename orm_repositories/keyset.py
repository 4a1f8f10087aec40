"""Keyset ("cursor") pagination: `paginate_cursor`.

Each page is one indexed range query, `WHERE (sort keys) > (last row's keys)
ORDER BY sort keys LIMIT n+1`, so a deep page costs the same as the first one and
a walk over all pages never repeats a row, whatever is inserted meanwhile.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true, tuple_

from orm_core.cursor import decode_cursor, encode_cursor
from orm_core.errors import InvalidQueryError
from orm_core.fields import Field, check_value
from orm_core.pagination import CursorPage
from orm_repositories.base import ModelT
from orm_repositories.reading import ReadMixin

# Dialects without `NULLS FIRST/LAST`: emulated with a leading `col IS NULL` term.
_NO_NULLS_ORDERING = frozenset({"mysql", "mariadb"})


@dataclass(frozen=True, slots=True)
class SortKey:
    """One column of a keyset ordering.

    Nullable columns sort NULLs after every value going up (`NULLS LAST` ascending,
    `NULLS FIRST` descending, as PostgreSQL does by default), on every dialect.
    """

    field: Field
    descending: bool

    @property
    def spec(self) -> str:
        return f"-{self.field.key}" if self.descending else self.field.key

    @property
    def nullable(self) -> bool:
        return bool(self.field.column.nullable)

    def order_terms(self, dialect: str) -> builtins.list[ColumnElement[Any]]:
        column = self.field.attribute
        term = column.desc() if self.descending else column.asc()
        if not self.nullable:
            return [term]
        if dialect in _NO_NULLS_ORDERING:
            nulls_rank = column.is_(None)
            return [nulls_rank.desc() if self.descending else nulls_rank.asc(), term]
        return [term.nulls_first() if self.descending else term.nulls_last()]

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
    """Rows after the position `values`: a row-value comparison when it is exact, else an OR-chain.

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
    branches: builtins.list[ColumnElement[bool]] = []
    for index, key in enumerate(keys):
        equal = [keys[j].equal(values[j]) for j in range(index)]
        branches.append(and_(true(), *equal, key.after(values[index])))
    return or_(*branches)


class KeysetMixin(ReadMixin[ModelT]):
    """`paginate_cursor`: stable, constant-cost pages addressed by signed cursors."""

    async def paginate_cursor(
        self,
        *where: Any,
        after: str | None = None,
        limit: int = 20,
        order_by: Any = "id",
        **lookups: Any,
    ) -> CursorPage[ModelT]:
        """Return the page after the cursor `after` (the first page when None).

        `order_by` takes field names (`"price"`, `"-created_at"`, or a list); the
        primary key is appended as a tie-breaker, so rows sharing a sort value are
        never skipped or repeated. `next_cursor` is None on the last page.

        Raises:
            InvalidQueryError: a bad, forged or truncated cursor, a cursor made for
                another model or ordering, an unknown field, or a limit outside
                1..`max_page_size`.
        """
        keys = self._sort_keys(order_by)
        limit = self._check_limit(limit)
        specs = [k.spec for k in keys]
        scope = f"{self.info.table_name}:{self.model.__name__}"
        criteria = self._criteria(where, lookups)
        if after is not None:
            raw = decode_cursor(after, scope, specs)
            values = [self._cursor_value(k, v) for k, v in zip(keys, raw, strict=True)]
            criteria.append(keyset_predicate(keys, values))
        dialect = self.session.get_bind().dialect.name
        terms = [t for k in keys for t in k.order_terms(dialect)]
        stmt = select(self.model).where(*criteria).order_by(*terms).limit(limit + 1)
        rows = await self._all(stmt)
        items = rows[:limit]
        if len(rows) <= limit:
            return CursorPage(items=items, next_cursor=None, has_next=False)
        last = items[-1]
        cursor = encode_cursor(scope, specs, [getattr(last, k.field.key) for k in keys])
        return CursorPage(items=items, next_cursor=cursor, has_next=True)

    def _sort_keys(self, order_by: Any) -> builtins.list[SortKey]:
        info = self.info
        if order_by is None or (order_by == "id" and "id" not in info.fields):
            order_by = []
        items = order_by if isinstance(order_by, list | tuple) else [order_by]
        keys: builtins.list[SortKey] = []
        for item in items:
            if not isinstance(item, str):
                raise InvalidQueryError(
                    "paginate_cursor orders by field names such as 'price' or '-price'",
                    {"order_by": repr(item)},
                )
            name = item.strip()
            descending = name.startswith("-")
            field = info.field(name.lstrip("+-"))
            if any(k.field.key == field.key for k in keys):
                raise InvalidQueryError(f"field {field.key!r} appears twice in order_by")
            keys.append(SortKey(field, descending))
        named = {k.field.key for k in keys}
        keys.extend(SortKey(f, False) for f in info.primary_key if f.key not in named)
        return keys

    def _check_limit(self, limit: Any) -> int:
        top = self.max_page_size
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= top:
            raise InvalidQueryError(f"limit must be an integer from 1 to {top}", {"limit": limit})
        return limit

    @staticmethod
    def _cursor_value(key: SortKey, value: Any) -> Any:
        if value is None and not key.nullable:
            raise InvalidQueryError(f"the cursor holds NULL for non-null {key.field.key!r}")
        return check_value(key.field, value)
