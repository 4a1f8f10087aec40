"""Reads by key and by lookups: get, get_many, exists, count, list, first, paginate."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from sqlalchemy import select

from orm_core.audit import AuditLog, key_text
from orm_core.errors import InvalidQueryError, NotFoundError
from orm_core.pagination import Page
from orm_core.tenancy import ALL_TENANTS, required
from orm_core.translate import translating
from orm_repositories._keys import (
    chunks,
    matches_nothing,
    pk_equals,
    pk_in,
    pk_of,
    pk_value,
    pk_values,
)
from orm_repositories._loading import Load, target_options, with_load
from orm_repositories._select import (
    count_statement,
    criteria,
    ordered,
    scope_criteria,
    select_entities,
)
from orm_repositories._target import (
    Target,
    execute,
    fetch_all,
    fetch_first,
    fetch_rows,
    non_negative,
)

CountMode = Literal["exact", "estimate", "none"]
COUNT_MODES: tuple[str, ...] = ("exact", "estimate", "none")


def not_found(target: Target, filters: dict[str, Any]) -> NotFoundError:
    """The error of a method that needed a row and found none."""
    name = target.model.__name__
    return NotFoundError(f"{name} not found", {"model": name, "filters": filters})


async def get(target: Target, id: Any, load: Load = None) -> Any:
    """The row with this key, or None (the identity map answers without SQL when it can)."""
    ident = pk_value(target.info, id)
    options = target_options(target, load)
    if matches_nothing(ident):
        return None
    if scope_criteria(target) or options:
        statement = select_entities(target).where(pk_equals(target.info, ident))
        return await fetch_first(target, statement.options(*options))
    with translating():
        return await target.session.get(target.model, ident)


async def get_many(
    target: Target, ids: Iterable[Any], preserve_order: bool, load: Load = None
) -> list[Any]:
    """The rows with these keys, one query per chunk under the bind limit."""
    values = pk_values(target.info, ids)
    options = target_options(target, load)
    found: list[Any] = []
    for chunk in chunks(target, values):
        statement = select_entities(target).where(pk_in(target, chunk)).options(*options)
        found.extend(await fetch_all(target, statement))
    if not preserve_order:
        return found
    by_key = {pk_of(target.info, entity): entity for entity in found}
    return [by_key[v] for v in values if v in by_key]


async def exists(target: Target, where: Sequence[Any], lookups: Mapping[str, Any]) -> bool:
    """Whether any row matches."""
    pk = target.info.primary_key[0].attribute
    statement = select(pk).where(*criteria(target, where, lookups)).limit(1)
    return (await execute(target, statement)).first() is not None


async def exists_many(target: Target, ids: Iterable[Any]) -> dict[Any, bool]:
    """Each id (as given; lists become tuples) mapped to whether its row exists."""
    given = list(ids) if isinstance(ids, Iterable) else ids
    values = pk_values(target.info, given)
    present: set[Any] = set()
    columns = [f.attribute for f in target.info.primary_key]
    for chunk in chunks(target, values):
        statement = select(*columns).where(pk_in(target, chunk), *scope_criteria(target))
        rows = (await execute(target, statement)).all()
        present.update(row[0] if len(columns) == 1 else tuple(row) for row in rows)
    return {
        tuple(i) if isinstance(i, list) else i: pk_value(target.info, i) in present for i in given
    }


async def count(target: Target, conditions: Sequence[Any]) -> int:
    """COUNT(*) of the rows matching already-built criteria."""
    return int((await execute(target, count_statement(target, conditions))).scalar_one())


async def list_rows(
    target: Target,
    where: Sequence[Any],
    lookups: Mapping[str, Any],
    order_by: Any,
    limit: int | None,
    offset: int | None,
    load: Load = None,
) -> list[Any]:
    """The matching rows, ordered and sliced."""
    statement = _sliced(select_entities(target, where, lookups), limit, offset)
    statement = ordered(target, statement, order_by, tiebreak=False)
    return await fetch_all(target, with_load(statement, target, load))


async def list_and_count(
    target: Target,
    where: Sequence[Any],
    lookups: Mapping[str, Any],
    *,
    offset: int,
    limit: int | None,
    order_by: Any,
    load: Load,
) -> tuple[list[Any], int]:
    """One slice of the matching rows (offset pagination) and how many match in all."""
    found = criteria(target, where, lookups)
    return await _counted_slice(target, found, order_by, load, limit, offset)


async def _counted_slice(
    target: Target,
    found: list[Any],
    order_by: Any,
    load: Load,
    limit: int | None,
    offset: int | None,
) -> tuple[list[Any], int]:
    """A slice and the total of every match, in one statement.

    The total is an uncorrelated scalar subquery, evaluated once per statement: unlike
    `count(*) OVER ()`, it never makes the database build and sort every matching row just
    to count them (the count may use an index alone). Only a slice that comes back empty
    (past the end, or `limit=0`) costs a second statement, since no row carried the total.
    """
    total = count_statement(target, found).correlate(None).scalar_subquery().label("orm_total")
    statement = _sliced(select(target.model, total).where(*found), limit, offset)
    statement = with_load(ordered(target, statement, order_by), target, load)
    rows = await fetch_rows(target, statement)
    if rows:
        return [row[0] for row in rows], int(rows[0][1])
    if not offset and limit != 0:
        return [], 0
    return [], await count(target, found)


def _sliced(statement: Any, limit: Any, offset: Any) -> Any:
    if limit is not None:
        statement = statement.limit(non_negative("limit", limit))
    if offset is not None:
        statement = statement.offset(non_negative("offset", offset))
    return statement


async def first(
    target: Target,
    where: Sequence[Any],
    lookups: Mapping[str, Any],
    order_by: Any,
    load: Load = None,
) -> Any:
    """The first matching row (by primary key unless `order_by` says otherwise)."""
    statement = ordered(target, select_entities(target, where, lookups), order_by)
    return await fetch_first(target, with_load(statement.limit(1), target, load))


async def paginate(
    target: Target,
    where: Sequence[Any],
    lookups: Mapping[str, Any],
    *,
    page: int,
    page_size: int,
    order_by: Any,
    count_mode: str,
    max_page_size: int,
    load: Load = None,
) -> Page[Any]:
    """One page of matching rows and, as `count_mode` says, their total."""
    page, page_size = check_page(page, page_size, max_page_size)
    if count_mode not in COUNT_MODES:
        raise InvalidQueryError(
            f"count must be one of {list(COUNT_MODES)}", {"count": repr(count_mode)}
        )
    found = criteria(target, where, lookups)
    offset = (page - 1) * page_size
    statement = ordered(target, select(target.model).where(*found), order_by)
    statement = with_load(statement, target, load)
    if count_mode == "exact":
        items, exact = await _counted_slice(target, found, order_by, load, page_size, offset)
        return Page.build(items, total=exact, page=page, page_size=page_size)
    rows = await fetch_all(target, statement.limit(page_size + 1).offset(offset))
    items, has_next = rows[:page_size], len(rows) > page_size
    total: int | None = None
    if count_mode == "estimate":
        seen = offset + len(items) + int(has_next)
        if not has_next and (items or page == 1):
            total = seen  # the last page: the exact total is known
        elif not items:
            total = await count(target, found)
        else:
            pk = target.info.primary_key[0].attribute
            estimate = await target.backend.estimate_rows(target.session, select(pk).where(*found))
            total = await count(target, found) if estimate is None else max(estimate, seen)
    return Page.build(items, total=total, page=page, page_size=page_size, has_next=has_next)


def check_page(page: Any, page_size: Any, limit: int) -> tuple[int, int]:
    """Check a page number and size.

    Raises:
        InvalidQueryError: page below 1, or a size below 1 or over `limit`.
    """
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise InvalidQueryError("page must be an integer of at least 1", {"page": page})
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= limit:
        raise InvalidQueryError(
            f"page_size must be an integer from 1 to {limit}", {"page_size": page_size}
        )
    return page, page_size


async def refresh(target: Target, entity: Any, load: Load) -> Any:
    """The current state of an entity's row, written into the entity (None if it went)."""
    if not isinstance(entity, target.model):
        raise InvalidQueryError(f"expected a {target.model.__name__}, got {type(entity).__name__}")
    ident = pk_value(target.info, pk_of(target.info, entity))
    statement = select_entities(target.widened("all")).where(pk_equals(target.info, ident))
    statement = with_load(statement, target, load)
    return await fetch_first(target, statement.execution_options(populate_existing=True))


async def history(target: Target, id: Any) -> list[Any]:
    """The audit trail of one row, newest first (ties in reverse order of writing)."""
    ident = pk_value(target.info, id)
    if matches_nothing(ident):
        return []
    where = [AuditLog.model == target.info.table_name, AuditLog.pk == key_text(ident)]
    if target.info.tenant is not None:
        tenant = required(target.tenant, target.model)
        if tenant is not ALL_TENANTS:
            where.append(AuditLog.tenant == tenant)
    statement = select(AuditLog).where(*where).order_by(AuditLog.at.desc(), AuditLog.id.desc())
    return await fetch_all(target, statement)
