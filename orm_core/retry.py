"""`retry_transaction`: run a whole unit of work again when the database aborts it."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from orm_core.errors import TransactionConflictError
from orm_core.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

UnitOfWorkT = TypeVar("UnitOfWorkT", bound=UnitOfWork)
ResultT = TypeVar("ResultT", bound=object)


async def retry_transaction(
    uow_factory: Callable[[], UnitOfWorkT],
    work: Callable[[UnitOfWorkT], Awaitable[ResultT]],
    *,
    attempts: int = 3,
    base_delay: float = 0.02,
    max_delay: float = 1.0,
) -> ResultT:
    """Run `work(uow)` inside `async with uow_factory()`, retrying the unit on conflicts.

    Only `TransactionConflictError` (serialization failure, deadlock, SQLite busy),
    raised by a statement or by COMMIT, is retried: the database rolled the whole
    transaction back, so running `work` again from the start on a fresh unit of
    work is safe. Between attempts it sleeps a random time up to
    `base_delay * 2 ** (attempt - 1)` (capped at `max_delay`), so colliding callers
    spread out. `CommitUnknownError` and every other error propagate at once.

    Example:
        async def transfer(uow: BankUnitOfWork) -> None:
            source, target = await uow.accounts.lock_many([1, 2])
            ...

        await retry_transaction(lambda: BankUnitOfWork(db), transfer, attempts=5)

    Returns:
        What `work` returned on the attempt that committed.

    Raises:
        TransactionConflictError: the last attempt conflicted too.
        ValueError: `attempts` is below 1 or a delay is negative.
    """
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError("attempts must be an integer of at least 1")
    if base_delay < 0 or max_delay < 0:
        raise ValueError("delays must not be negative")
    attempt = 1
    while True:
        uow = uow_factory()
        try:
            async with uow:
                result = await work(uow)
        except TransactionConflictError as exc:
            if attempt >= attempts:
                raise
            delay = random.uniform(0, min(max_delay, base_delay * 2 ** (attempt - 1)))
            logger.debug("retrying a conflicted transaction (attempt %d): %s", attempt, exc)
            attempt += 1
            await asyncio.sleep(delay)
            continue
        return result
