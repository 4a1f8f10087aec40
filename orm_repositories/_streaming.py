"""`stream`: iterate over any number of rows in bounded memory."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from typing import Any

from sqlalchemy import inspect

from orm_core.errors import InvalidQueryError
from orm_core.translate import translating
from orm_repositories._keyset import SortKey, keyset_predicate, order_terms, sort_keys
from orm_repositories._loading import Load, with_load
from orm_repositories._select import ordered, select_entities
from orm_repositories._target import Target, fetch_all


async def stream(
    target: Target,
    where: Sequence[Any],
    lookups: Mapping[str, Any],
    *,
    batch_size: Any,
    order_by: Any,
    load: Load = None,
) -> AsyncIterator[Any]:
    """Yield matching rows fetched `batch_size` at a time.

    A server-side cursor reads them where it leaves the connection free for other
    statements; elsewhere (MySQL, MariaDB) keyset pages do, when the order is by field
    names. Each batch is detached from the session once the caller has moved past it, so
    the session does not grow with the table; entities the session held before the
    stream, and entities the caller changed, stay attached.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidQueryError("batch_size must be a positive integer", {"batch_size": batch_size})
    keys = None if target.backend.cursor_shares_connection else _field_keys(target, order_by)
    if keys is None:
        batches = _cursor_batches(target, where, lookups, batch_size, order_by, load)
    else:
        batches = _keyset_batches(target, where, lookups, keys, batch_size, load)
    session = target.session
    held = set(session.identity_map.keys())
    try:
        async for batch in batches:
            for entity in batch:
                yield entity
            for entity in batch:
                state = inspect(entity)
                if state.key not in held and not state.modified and state.persistent:
                    session.expunge(entity)
    finally:
        await batches.aclose()


async def _cursor_batches(
    target: Target,
    where: Sequence[Any],
    lookups: Mapping[str, Any],
    batch_size: int,
    order_by: Any,
    load: Load,
) -> AsyncGenerator[Sequence[Any], None]:
    """Batches read through one server-side cursor."""
    statement = ordered(target, select_entities(target, where, lookups), order_by)
    statement = with_load(statement, target, load).execution_options(yield_per=batch_size)
    with translating():
        result = await target.session.stream_scalars(statement)
    partitions = result.partitions(batch_size)
    try:
        while True:
            with translating():
                try:
                    batch = await partitions.__anext__()
                except StopAsyncIteration:
                    return
            yield batch
    finally:
        await partitions.aclose()  # type: ignore[attr-defined]
        await result.close()


async def _keyset_batches(
    target: Target,
    where: Sequence[Any],
    lookups: Mapping[str, Any],
    keys: list[SortKey],
    batch_size: int,
    load: Load,
) -> AsyncGenerator[Sequence[Any], None]:
    """Batches read as keyset pages, each a statement of its own (`paginate_cursor`'s)."""
    base = select_entities(target, where, lookups)
    terms = order_terms(target, keys)
    after: list[Any] | None = None
    while True:
        statement = base if after is None else base.where(keyset_predicate(keys, after))
        statement = with_load(statement.order_by(*terms).limit(batch_size), target, load)
        batch = await fetch_all(target, statement)
        if not batch:
            return
        # the position is read before the caller sees the rows (and may change them)
        after = [getattr(batch[-1], k.field.key) for k in keys]
        yield batch
        if len(batch) < batch_size:
            return


def _field_keys(target: Target, order_by: Any) -> list[SortKey] | None:
    """The keyset ordering of `order_by` when it names fields only; None otherwise."""
    try:
        return sort_keys(target, order_by)
    except InvalidQueryError:
        return None  # SQL expressions: the cursor, which checks the ordering itself
