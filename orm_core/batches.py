"""`process_in_batches`: one unit of work per batch, one savepoint per item."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from orm_core.errors import InvalidQueryError
from orm_core.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

ItemT = TypeVar("ItemT", bound=object)
UnitOfWorkT = TypeVar("UnitOfWorkT", bound=UnitOfWork)

Handler = Callable[[UnitOfWorkT, ItemT], Awaitable[Any] | Any]


@dataclass
class BatchReport(Generic[ItemT]):
    """What `process_in_batches` did: how many items were committed, and which failed why."""

    succeeded: int = 0
    failed: list[tuple[ItemT, Exception]] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Every item taken from the input."""
        return self.succeeded + len(self.failed)


async def process_in_batches(
    uow_factory: Callable[[], UnitOfWorkT],
    items: Iterable[ItemT] | AsyncIterable[ItemT],
    handler: Handler[UnitOfWorkT, ItemT],
    *,
    batch_size: int = 100,
) -> BatchReport[ItemT]:
    """Run `handler(uow, item)` for every item, committing one unit of work per batch.

    Items are taken lazily, `batch_size` at a time, from any iterable (or async
    iterable). Each item's handler (sync or async) runs in a savepoint, flushed
    before the savepoint ends: an item whose handler raises is rolled back alone and
    reported with its error, and the batch goes on.

    A batch that is lost — its COMMIT fails (a deferred constraint, the database
    went away), or its connection dies mid-batch (the remaining items of the batch
    are then not handled) — writes nothing: every item of it is reported failed,
    with its own error if its handler had failed, else with the error that lost the
    batch, and the next batch goes on with a new unit of work. Errors that are not
    `Exception`s (cancellation) propagate at once, rolling the current batch back.

    Example:
        report = await process_in_batches(
            lambda: ShopUnitOfWork(db), rows, import_row, batch_size=500
        )
        print(report.succeeded, [(row, str(error)) for row, error in report.failed])

    Raises:
        InvalidQueryError: `batch_size` is not an integer of at least 1.
        TypeError: `handler` is not callable, or `items` not iterable.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidQueryError("batch_size must be an integer of at least 1")
    if not callable(handler):
        raise TypeError("handler must be a callable taking (uow, item)")
    if not isinstance(items, Iterable | AsyncIterable):
        raise TypeError(f"items must be an iterable, got {type(items).__name__}")
    report: BatchReport[ItemT] = BatchReport()
    async for batch in _batches(items, batch_size):
        await _run_batch(uow_factory(), batch, handler, report)
    return report


async def _run_batch(
    uow: UnitOfWorkT,
    batch: list[ItemT],
    handler: Handler[UnitOfWorkT, ItemT],
    report: BatchReport[ItemT],
) -> None:
    errors: list[Exception | None] = []
    try:
        async with uow:
            for item in batch:
                error = await _run_item(uow, item, handler)
                errors.append(error)
                if error is not None and not await _usable(uow):
                    raise _BatchLostError(error)
    except _BatchLostError as lost:
        lost_by: Exception = lost.cause
    except Exception as exc:
        lost_by = exc
    else:
        report.succeeded += errors.count(None)
        report.failed.extend(
            (item, error) for item, error in zip(batch, errors, strict=True) if error is not None
        )
        return
    logger.warning("a batch of %d items was lost: %s", len(batch), type(lost_by).__name__)
    errors.extend([None] * (len(batch) - len(errors)))
    report.failed.extend(
        (item, lost_by if error is None else error)
        for item, error in zip(batch, errors, strict=True)
    )


class _BatchLostError(Exception):
    """The batch's transaction cannot go on (its connection died): roll the unit back."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


async def _usable(uow: UnitOfWork) -> bool:
    """Whether the unit's transaction can still run statements after an item failed.

    A connection lost mid-batch leaves the transaction nominally active on an
    invalidated connection: nothing after it can be written.
    """
    session = uow.session
    transaction = session.get_transaction()
    if transaction is None:
        return True
    if not transaction.is_active:
        return False
    try:
        connection = await session.connection()
    except Exception:
        return False
    return not connection.invalidated


async def _run_item(
    uow: UnitOfWorkT, item: ItemT, handler: Handler[UnitOfWorkT, ItemT]
) -> Exception | None:
    """Run the handler for one item in a savepoint; return its error, or None."""
    try:
        async with uow.savepoint():
            result = handler(uow, item)
            if inspect.isawaitable(result):
                await result
    except Exception as exc:
        return exc
    return None


async def _batches(
    items: Iterable[ItemT] | AsyncIterable[ItemT], size: int
) -> AsyncIterator[list[ItemT]]:
    batch: list[ItemT] = []
    async for item in _each(items):
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


async def _each(items: Iterable[ItemT] | AsyncIterable[ItemT]) -> AsyncIterator[ItemT]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
