"""`stream`: iterate over any number of rows in bounded memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from sqlalchemy import inspect

from orm_core.errors import InvalidQueryError
from orm_core.translate import translating
from orm_repositories._loading import Load, with_load
from orm_repositories._select import ordered, select_entities
from orm_repositories._target import Target


async def stream(
    target: Target,
    where: Sequence[Any],
    lookups: Mapping[str, Any],
    *,
    batch_size: Any,
    order_by: Any,
    load: Load = None,
) -> AsyncIterator[Any]:
    """Yield matching rows fetched `batch_size` at a time through a server-side cursor.

    Each batch is detached from the session once the caller has moved past it, so
    the session does not grow with the table; entities the session held before the
    stream, and entities the caller changed, stay attached.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidQueryError("batch_size must be a positive integer", {"batch_size": batch_size})
    statement = ordered(target, select_entities(target, where, lookups), order_by)
    statement = with_load(statement, target, load).execution_options(yield_per=batch_size)
    session = target.session
    held = set(session.identity_map.keys())
    with translating():
        result = await session.stream_scalars(statement)
    batches = result.partitions(batch_size)
    try:
        while True:
            with translating():
                try:
                    batch = await batches.__anext__()
                except StopAsyncIteration:
                    break
            for entity in batch:
                yield entity
            for entity in batch:
                state = inspect(entity)
                if state.key not in held and not state.modified and state.persistent:
                    session.expunge(entity)
    finally:
        await batches.aclose()  # type: ignore[attr-defined]
        await result.close()
