"""`@transactional`: run a coroutine function inside its own unit of work."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from orm_core.errors import InvalidQueryError
from orm_core.retry import retry_transaction
from orm_core.unit_of_work import UnitOfWork

ResultT = TypeVar("ResultT", bound=object)

_KEYWORD_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def transactional(
    uow_factory: Callable[[], UnitOfWork], *, retries: int = 0
) -> Callable[[Callable[..., Awaitable[ResultT]]], Callable[..., Awaitable[ResultT]]]:
    """Run each call of the decorated coroutine function in a new unit of work.

    The unit of work (`uow_factory()`) is passed as the `uow` keyword argument, which
    the caller leaves out; a clean return commits, an exception rolls back and
    propagates. With `retries`, a call whose transaction the database aborted over
    a conflict (`TransactionConflictError`) runs again from the start on a fresh
    unit of work, up to `retries` more times, as `retry_transaction` does.

    Example:
        @transactional(lambda: ShopUnitOfWork(db), retries=3)
        async def restock(sku: str, amount: int, *, uow: ShopUnitOfWork) -> Product:
            product = await uow.products.first(sku=sku)
            ...

        await restock("A-1", 5)

    The wrapper keeps the function's name, docstring and signature (`uow` included).

    Raises:
        TypeError: at decoration, the function is not a coroutine function or takes no
            `uow` keyword; at a call, the caller passed `uow` itself.
        InvalidQueryError: `retries` is not an integer of at least 0.
    """
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InvalidQueryError("retries must be an integer of at least 0")
    if not callable(uow_factory):
        raise TypeError("transactional needs a unit-of-work factory: a zero-argument callable")

    # the wrapper takes every argument but `uow`, which no type can express: `...`
    def decorate(function: Callable[..., Awaitable[ResultT]]) -> Callable[..., Awaitable[ResultT]]:
        _check_decorated(function)

        @functools.wraps(function)
        async def run(*args: Any, **kwargs: Any) -> ResultT:
            if "uow" in kwargs:
                raise TypeError(
                    f"{function.__qualname__}() gets its `uow` from @transactional; do not pass one"
                )

            async def work(uow: UnitOfWork) -> ResultT:
                return await function(*args, **kwargs, uow=uow)

            return await retry_transaction(uow_factory, work, attempts=retries + 1)

        return run

    return decorate


def _check_decorated(function: Any) -> None:
    if not inspect.iscoroutinefunction(function):
        raise TypeError(f"@transactional needs a coroutine function (async def), got {function!r}")
    parameter = inspect.signature(function).parameters.get("uow")
    if parameter is None or parameter.kind not in _KEYWORD_KINDS:
        raise TypeError(
            f"{function.__qualname__}() needs a `uow` parameter that can be passed by "
            "keyword, for the unit of work @transactional opens"
        )
