"""@transactional: a unit of work per call, commit or rollback, retries on conflicts."""

from __future__ import annotations

import inspect
from decimal import Decimal

import pytest

import orm_core.retry
from orm_core import (
    DuplicateError,
    InvalidQueryError,
    TransactionConflictError,
    UnitOfWork,
    transactional,
)
from tests.models import Product
from tests.support import ShopUoW


@pytest.fixture
def no_sleep(monkeypatch) -> list[float]:
    delays: list[float] = []

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)

    monkeypatch.setattr(orm_core.retry.asyncio, "sleep", fake_sleep)
    return delays


async def skus(database) -> list[str]:
    async with ShopUoW(database, read_only=True) as uow:
        return [p.sku for p in await uow.products.list(order_by="sku")]


# -- behaviour ----------------------------------------------------------------------------


async def test_commits_what_the_function_wrote_and_returns_its_result(database):
    seen: list[UnitOfWork] = []

    @transactional(lambda: ShopUoW(database))
    async def add(sku: str, *, uow: ShopUoW) -> Product:
        seen.append(uow)
        assert uow.active
        return await uow.products.create(sku=sku, name=sku, price=Decimal("1"))

    product = await add("A")
    await add(sku="B")
    assert product.sku == "A" and product.id is not None
    assert await skus(database) == ["A", "B"]
    assert seen[0] is not seen[1] and not seen[0].active  # a new unit per call, closed after


async def test_rolls_back_and_propagates_when_the_function_raises(database):
    @transactional(lambda: ShopUoW(database))
    async def add_then_fail(sku: str, *, uow: ShopUoW) -> None:
        await uow.products.create(sku=sku, name=sku, price=Decimal("1"))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await add_then_fail("A")
    assert await skus(database) == []


async def test_retries_a_conflicted_call_on_a_fresh_unit_of_work(database, no_sleep):
    units: list[UnitOfWork] = []

    @transactional(lambda: ShopUoW(database), retries=2)
    async def add(sku: str, *, uow: ShopUoW) -> int:
        units.append(uow)
        await uow.products.create(sku=f"{sku}-{len(units)}", name=sku, price=Decimal("1"))
        if len(units) < 3:
            raise TransactionConflictError("conflict")
        return len(units)

    assert await add("A") == 3
    assert len({id(u) for u in units}) == 3
    assert await skus(database) == ["A-3"]  # nothing of the conflicted attempts stays
    assert len(no_sleep) == 2


async def test_without_retries_a_conflict_propagates_at_once(database, no_sleep):
    calls: list[int] = []

    @transactional(lambda: ShopUoW(database))
    async def conflicted(*, uow: ShopUoW) -> None:
        calls.append(1)
        raise TransactionConflictError("conflict")

    with pytest.raises(TransactionConflictError):
        await conflicted()
    assert calls == [1] and no_sleep == []


async def test_the_conflict_propagates_once_the_retries_are_spent(database, no_sleep):
    calls: list[int] = []

    @transactional(lambda: ShopUoW(database), retries=3)
    async def conflicted(*, uow: ShopUoW) -> None:
        calls.append(1)
        raise TransactionConflictError("conflict")

    with pytest.raises(TransactionConflictError):
        await conflicted()
    assert len(calls) == 4


async def test_other_errors_are_not_retried(database, no_sleep):
    calls: list[int] = []

    @transactional(lambda: ShopUoW(database), retries=5)
    async def add_twice(*, uow: ShopUoW) -> None:
        calls.append(1)
        await uow.products.create(sku="A", name="a", price=Decimal("1"))
        await uow.products.create(sku="A", name="a", price=Decimal("1"))

    with pytest.raises(DuplicateError):
        await add_twice()
    assert calls == [1] and await skus(database) == []


async def test_decorates_methods_too(database):
    class Catalogue:
        def __init__(self) -> None:
            self.added = 0

        @transactional(lambda: ShopUoW(database))
        async def add(self, sku: str, *, uow: ShopUoW) -> None:
            await uow.products.create(sku=sku, name=sku, price=Decimal("1"))
            self.added += 1

    catalogue = Catalogue()
    await catalogue.add("A")
    assert catalogue.added == 1 and await skus(database) == ["A"]


# -- the decorator itself --------------------------------------------------------------------


async def test_keeps_the_name_docstring_and_signature(database):
    async def restock(sku: str, amount: int = 1, *, uow: ShopUoW) -> int:
        """Add stock."""
        return amount

    decorated = transactional(lambda: ShopUoW(database))(restock)
    assert decorated.__name__ == "restock" and decorated.__doc__ == "Add stock."
    assert decorated.__wrapped__ is restock  # type: ignore[attr-defined]
    assert inspect.signature(decorated) == inspect.signature(restock)
    assert inspect.iscoroutinefunction(decorated)
    assert await decorated("A", 4) == 4


def sync_function(*, uow: UnitOfWork) -> None:
    """Not a coroutine function."""


async def no_uow(sku: str) -> None:
    """Has nowhere to take the unit of work."""


async def positional_only_uow(uow: UnitOfWork, /) -> None:
    """Cannot take it by keyword."""


async def an_async_generator(*, uow: UnitOfWork):  # type: ignore[no-untyped-def]
    """Not a coroutine function either."""
    yield 1


@pytest.mark.parametrize(
    "function", [sync_function, no_uow, positional_only_uow, an_async_generator, print]
)
def test_refuses_at_decoration_what_it_cannot_run(function):
    with pytest.raises(TypeError):
        transactional(lambda: None)(function)  # type: ignore[arg-type, return-value]


async def test_a_caller_cannot_pass_its_own_unit_of_work(database):
    opened: list[int] = []

    def factory() -> ShopUoW:
        opened.append(1)
        return ShopUoW(database)

    @transactional(factory)
    async def work(*, uow: ShopUoW) -> None:
        raise AssertionError("never runs")

    with pytest.raises(TypeError, match="uow"):
        await work(uow=ShopUoW(database))
    assert opened == []


@pytest.mark.parametrize("retries", [-1, True, 1.5, "2", None])
def test_bad_retries_are_rejected(retries):
    with pytest.raises(InvalidQueryError):
        transactional(lambda: None, retries=retries)  # type: ignore[arg-type, return-value]


def test_a_factory_must_be_callable():
    with pytest.raises(TypeError):
        transactional("ShopUoW")  # type: ignore[arg-type]


# -- PostgreSQL, for real -------------------------------------------------------------------


@pytest.mark.postgres
async def test_a_real_serialization_failure_is_retried_to_success(database):
    """Write skew under SERIALIZABLE: the first attempt's COMMIT fails, the retry commits."""
    calls: list[int] = []
    outsider = ShopUoW(database, isolation_level="SERIALIZABLE")

    @transactional(lambda: ShopUoW(database, isolation_level="SERIALIZABLE"), retries=2)
    async def add_if_alone(*, uow: ShopUoW) -> int:
        calls.append(1)
        seen = await uow.products.count(category="b")
        if len(calls) == 1:
            await outsider.products.create(sku="x", name="n", price=Decimal("1"), category="b")
        await uow.products.create(sku=f"y{len(calls)}", name="n", price=Decimal("1"), category="a")
        if len(calls) == 1:
            await outsider.commit()
        return seen

    async with outsider:
        await outsider.products.count(category="a")
        seen = await add_if_alone()
    assert len(calls) == 2 and seen == 1  # the retry saw the outsider's committed row
    assert await skus(database) == ["x", "y2"]
