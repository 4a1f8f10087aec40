"""`stream`: iterate over any number of rows in bounded memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import inspect

from orm_core.errors import InvalidQueryError, OrmError
from orm_core.translate import translate
from orm_repositories.base import ModelT
from orm_repositories.reading import ReadMixin


class StreamingMixin(ReadMixin[ModelT]):
    """Stream rows through a server-side cursor, `batch_size` rows in memory at a time."""

    async def stream(
        self, *where: Any, batch_size: int = 1000, order_by: Any = None, **lookups: Any
    ) -> AsyncIterator[ModelT]:
        """Yield the matching rows one by one, fetched `batch_size` at a time.

        The query runs once, through a server-side cursor (`yield_per`), in the
        session's transaction, so the rows form one consistent snapshot on
        PostgreSQL. Rows are ordered by primary key unless `order_by` says otherwise.
        Each batch is detached from the session once the caller has moved past it,
        so the session does not grow with the table; objects the session already
        held before the stream, and objects the caller changed, stay attached.

        Raises:
            InvalidQueryError: `batch_size` below 1, or a bad filter or ordering.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidQueryError(
                "batch_size must be a positive integer", {"batch_size": batch_size}
            )
        stmt = (
            self._select(where, lookups)
            .order_by(*self._ordering(order_by))
            .execution_options(yield_per=batch_size)
        )
        held = set(self.session.identity_map.keys())
        try:
            result = await self.session.stream_scalars(stmt)
        except Exception as exc:
            raise translate(exc) from exc
        batches = result.partitions(batch_size)
        try:
            while True:
                try:
                    batch = await batches.__anext__()
                except StopAsyncIteration:
                    break
                except OrmError:
                    raise
                except Exception as exc:
                    raise translate(exc) from exc
                for entity in batch:
                    yield entity
                for entity in batch:
                    state = inspect(entity)
                    if state.key not in held and not state.modified and state.persistent:
                        self.session.expunge(entity)
        finally:
            await batches.aclose()  # type: ignore[attr-defined]
            await result.close()
