"""Reads: get, get_many, exists, count, list, first, paginate."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any, Literal

from sqlalchemy import func, select

from orm_core.errors import InvalidQueryError, NotFoundError
from orm_core.lookups import build_order_by
from orm_core.pagination import Page
from orm_core.translate import translate
from orm_repositories.base import ModelT, RepositoryBase
from orm_repositories.estimates import estimate_rows

CountMode = Literal["exact", "estimate", "none"]
COUNT_MODES: tuple[str, ...] = ("exact", "estimate", "none")


class ReadMixin(RepositoryBase[ModelT]):
    """Reading methods; soft-deleted rows are excluded unless the scope says otherwise."""

    async def get(self, id: Any) -> ModelT | None:
        """Return the row with this primary key, or None."""
        ident = self._pk_value(id)
        if self._scope_criteria():
            return await self._first_by(self._select().where(self._pk_equals(ident)))
        try:
            entity: ModelT | None = await self.session.get(self.model, ident)
        except Exception as exc:
            raise translate(exc) from exc
        return entity

    async def get_one(self, id: Any) -> ModelT:
        """Return the row with this primary key.

        Raises:
            NotFoundError: no such row (or it is soft-deleted).
        """
        entity = await self.get(id)
        if entity is None:
            raise self._not_found({"id": id})
        return entity

    async def get_many(self, ids: Iterable[Any], *, preserve_order: bool = False) -> list[ModelT]:
        """Return the rows with these ids in one query (chunked past the bind limit).

        Missing ids are skipped; with `preserve_order` rows follow the order of `ids`.
        """
        values = self._pk_values(ids)
        found: list[ModelT] = []
        for chunk in self._chunks(values):
            found.extend(await self._all(self._select().where(self._pk_in(chunk))))
        if not preserve_order:
            return found
        by_key = {self._pk_of(entity): entity for entity in found}
        return [by_key[v] for v in values if v in by_key]

    async def exists(self, *where: Any, **lookups: Any) -> bool:
        """Tell whether any row matches."""
        pk = self.info.primary_key[0].attribute
        stmt = select(pk).where(*self._criteria(where, lookups)).limit(1)
        return (await self._execute(stmt)).first() is not None

    async def exists_many(self, ids: Iterable[Any]) -> dict[Any, bool]:
        """Map each id (as given; lists become tuples) to whether its row exists, in one query."""
        given = builtins.list(ids) if isinstance(ids, Iterable) else ids
        values = self._pk_values(given)
        present: set[Any] = set()
        pk_columns = [f.attribute for f in self.info.primary_key]
        for chunk in self._chunks(values):
            stmt = select(*pk_columns).where(self._pk_in(chunk), *self._scope_criteria())
            rows = (await self._execute(stmt)).all()
            present.update(row[0] if len(pk_columns) == 1 else tuple(row) for row in rows)
        return {
            tuple(i) if isinstance(i, builtins.list) else i: self._pk_value(i) in present
            for i in given
        }

    async def count(self, *where: Any, **lookups: Any) -> int:
        """Count the matching rows."""
        stmt = select(func.count()).select_from(self.model).where(*self._criteria(where, lookups))
        return int((await self._execute(stmt)).scalar_one())

    async def list(
        self,
        *where: Any,
        order_by: Any = None,
        limit: int | None = None,
        offset: int | None = None,
        **lookups: Any,
    ) -> builtins.list[ModelT]:
        """Return the matching rows, ordered and sliced as asked."""
        stmt = self._select(where, lookups).order_by(*build_order_by(self.model, order_by))
        if limit is not None:
            stmt = stmt.limit(_non_negative("limit", limit))
        if offset is not None:
            stmt = stmt.offset(_non_negative("offset", offset))
        return await self._all(stmt)

    async def first(self, *where: Any, order_by: Any = None, **lookups: Any) -> ModelT | None:
        """Return the first matching row (by primary key unless `order_by` is given)."""
        stmt = self._select(where, lookups).order_by(*self._ordering(order_by)).limit(1)
        return await self._first_by(stmt)

    async def paginate(
        self,
        *where: Any,
        page: int = 1,
        page_size: int = 20,
        order_by: Any = None,
        count: CountMode = "exact",
        **lookups: Any,
    ) -> Page[ModelT]:
        """Return one page of matching rows and, as `count` says, their total.

        `count="exact"` runs COUNT(*): exact, but it reads every matching row.
        `count="estimate"` takes the planner's estimate on PostgreSQL (one planning
        round trip; exact COUNT elsewhere), raised to at least the rows already seen
        and exact on the last page. `count="none"` skips counting: `total` and
        `total_pages` are None. With "estimate" and "none", `has_next` comes from one
        extra row read past the page, so it is always right.

        Raises:
            InvalidQueryError: page below 1, page size below 1 or over `max_page_size`,
                or an unknown count mode.
        """
        page, page_size = self._check_page(page, page_size)
        if count not in COUNT_MODES:
            raise InvalidQueryError(
                f"count must be one of {list(COUNT_MODES)}", {"count": repr(count)}
            )
        criteria = self._criteria(where, lookups)
        offset = (page - 1) * page_size
        stmt = select(self.model).where(*criteria).order_by(*self._ordering(order_by))
        if count == "exact":
            exact = await self._count_where(criteria)
            items: builtins.list[ModelT] = []
            if exact > offset:
                items = await self._all(stmt.limit(page_size).offset(offset))
            return Page.build(items, total=exact, page=page, page_size=page_size)
        rows = await self._all(stmt.limit(page_size + 1).offset(offset))
        items, has_next = rows[:page_size], len(rows) > page_size
        total: int | None = None
        if count == "estimate":
            seen = offset + len(items) + int(has_next)
            if not has_next and (items or page == 1):
                total = seen  # the last page: the exact total is known
            elif not items:
                total = await self._count_where(criteria)
            else:
                pk = self.info.primary_key[0].attribute
                estimate = await estimate_rows(self.session, select(pk).where(*criteria))
                total = (
                    await self._count_where(criteria) if estimate is None else max(estimate, seen)
                )
        return Page.build(items, total=total, page=page, page_size=page_size, has_next=has_next)

    async def _count_where(self, criteria: builtins.list[Any]) -> int:
        stmt = select(func.count()).select_from(self.model).where(*criteria)
        return int((await self._execute(stmt)).scalar_one())

    # -- helpers ------------------------------------------------------------------

    def _check_page(self, page: Any, page_size: Any) -> tuple[int, int]:
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            raise InvalidQueryError("page must be an integer of at least 1", {"page": page})
        limit = self.max_page_size
        if (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or not 1 <= page_size <= limit
        ):
            raise InvalidQueryError(
                f"page_size must be an integer from 1 to {limit}", {"page_size": page_size}
            )
        return page, page_size

    def _ordering(self, order_by: Any) -> builtins.list[Any]:
        """ORDER BY terms with the primary key appended, so pages never overlap."""
        terms = build_order_by(self.model, order_by)
        named = {str(getattr(t, "element", t)) for t in terms}
        for field in self.info.primary_key:
            if str(field.attribute.expression) not in named:
                terms.append(field.attribute.asc())
        return terms

    async def _first_by(self, stmt: Any) -> ModelT | None:
        entity: ModelT | None = (await self._execute(stmt)).scalars().first()
        return entity

    def _not_found(self, filters: dict[str, Any]) -> NotFoundError:
        return NotFoundError(
            f"{self.model.__name__} not found",
            {"model": self.model.__name__, "filters": filters},
        )



def _non_negative(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidQueryError(f"{name} must be a non-negative integer", {name: value})
    return value
