"""retry_transaction, and how conflicts and lost commits are classified."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

import orm_core.retry
from orm_core import (
    CommitUnknownError,
    DatabaseUnavailableError,
    DuplicateError,
    TransactionConflictError,
    retry_transaction,
)
from orm_core.translate import translate
from tests.models import Product
from tests.support import ShopUoW


class FakeDriverError(Exception):
    """Stands in for a driver exception carrying a SQLSTATE."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def serialization_failure() -> sa_exc.OperationalError:
    return sa_exc.OperationalError("COMMIT", {}, FakeDriverError("could not serialize", "40001"))


@pytest.fixture
def no_sleep(monkeypatch) -> list[float]:
    delays: list[float] = []

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)

    monkeypatch.setattr(orm_core.retry.asyncio, "sleep", fake_sleep)
    return delays


async def count_products(database) -> int:
    async with ShopUoW(database, read_only=True) as uow:
        return await uow.products.count()


async def add_product(uow: ShopUoW, sku: str) -> Product:
    return await uow.products.create(sku=sku, name=sku, price=Decimal("1"))


# -- behaviour ----------------------------------------------------------------------------


async def test_returns_what_work_returns_and_commits_once(database, no_sleep):
    calls = []

    async def work(uow: ShopUoW) -> str:
        calls.append(uow)
        return (await add_product(uow, "A")).sku

    assert await retry_transaction(lambda: ShopUoW(database), work) == "A"
    assert len(calls) == 1 and no_sleep == []
    assert await count_products(database) == 1


async def test_retries_the_whole_unit_and_keeps_nothing_of_failed_attempts(database, no_sleep):
    calls = []

    async def work(uow: ShopUoW) -> int:
        calls.append(uow)
        await add_product(uow, f"try-{len(calls)}")
        if len(calls) < 3:
            raise TransactionConflictError("conflict")
        return len(calls)

    assert await retry_transaction(lambda: ShopUoW(database), work, attempts=3) == 3
    assert len({id(u) for u in calls}) == 3  # a fresh unit of work each attempt
    async with ShopUoW(database) as uow:
        assert [p.sku for p in await uow.products.list()] == ["try-3"]
    assert len(no_sleep) == 2


async def test_the_conflict_propagates_after_the_last_attempt(database, no_sleep):
    calls = []

    async def work(uow: ShopUoW) -> None:
        calls.append(1)
        await add_product(uow, "A")
        raise TransactionConflictError("conflict")

    with pytest.raises(TransactionConflictError):
        await retry_transaction(lambda: ShopUoW(database), work, attempts=4)
    assert len(calls) == 4
    assert await count_products(database) == 0


@pytest.mark.parametrize(
    "error",
    [ValueError("bug"), DuplicateError("dup"), CommitUnknownError("lost"), KeyError("k")],
)
async def test_other_errors_propagate_at_once(database, no_sleep, error):
    calls = []

    async def work(uow: ShopUoW) -> None:
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        await retry_transaction(lambda: ShopUoW(database), work, attempts=5)
    assert len(calls) == 1 and no_sleep == []


async def test_a_raw_driver_conflict_inside_work_is_translated_and_retried(database, no_sleep):
    calls = []

    async def work(uow: ShopUoW) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise serialization_failure()
        return "ok"

    assert await retry_transaction(lambda: ShopUoW(database), work) == "ok"
    assert len(calls) == 2


async def test_a_conflict_raised_by_commit_is_retried(database, no_sleep):
    calls = []

    async def work(uow: ShopUoW) -> None:
        calls.append(1)
        await add_product(uow, f"try-{len(calls)}")
        if len(calls) == 1:

            async def failing_commit() -> None:
                raise serialization_failure()

            uow.session.commit = failing_commit  # type: ignore[method-assign]

    await retry_transaction(lambda: ShopUoW(database), work)
    assert len(calls) == 2
    async with ShopUoW(database) as uow:
        assert [p.sku for p in await uow.products.list()] == ["try-2"]


async def test_a_connection_lost_during_commit_is_commit_unknown_and_not_retried(
    database, no_sleep
):
    calls = []

    async def work(uow: ShopUoW) -> None:
        calls.append(1)

        async def dying_commit() -> None:
            raise sa_exc.OperationalError(
                "COMMIT", {}, ConnectionResetError("reset"), connection_invalidated=True
            )

        uow.session.commit = dying_commit  # type: ignore[method-assign]

    with pytest.raises(CommitUnknownError):
        await retry_transaction(lambda: ShopUoW(database), work, attempts=5)
    assert len(calls) == 1


async def test_backoff_grows_exponentially_with_jitter_and_is_capped(database, no_sleep):
    async def work(uow: ShopUoW) -> None:
        raise TransactionConflictError("conflict")

    with pytest.raises(TransactionConflictError):
        await retry_transaction(
            lambda: ShopUoW(database), work, attempts=6, base_delay=0.1, max_delay=0.5
        )
    caps = [0.1, 0.2, 0.4, 0.5, 0.5]
    assert len(no_sleep) == 5
    assert all(0 <= d <= cap for d, cap in zip(no_sleep, caps, strict=True))
    assert len(set(no_sleep)) > 1  # jittered, not a fixed schedule


@pytest.mark.parametrize(
    "kwargs", [{"attempts": 0}, {"attempts": True}, {"attempts": "3"}, {"base_delay": -1}]
)
async def test_bad_settings_are_rejected(database, kwargs):
    async def work(uow: ShopUoW) -> None:
        raise AssertionError("never runs")

    with pytest.raises(ValueError):
        await retry_transaction(lambda: ShopUoW(database), work, **kwargs)


# -- classification -------------------------------------------------------------------------


def test_translate_tells_a_lost_commit_from_a_conflicted_one():
    lost = sa_exc.OperationalError(
        "COMMIT", {}, ConnectionResetError("reset"), connection_invalidated=True
    )
    assert isinstance(translate(lost, during_commit=True), CommitUnknownError)
    assert isinstance(translate(lost), DatabaseUnavailableError)
    conflicted = serialization_failure()
    assert isinstance(translate(conflicted, during_commit=True), TransactionConflictError)
    deadlock = sa_exc.OperationalError("UPDATE", {}, FakeDriverError("deadlock", "40P01"))
    assert isinstance(translate(deadlock), TransactionConflictError)


# -- PostgreSQL, for real -------------------------------------------------------------------


@pytest.mark.postgres
async def test_a_serialization_failure_at_commit_surfaces_from_the_unit_of_work(database):
    """Write skew: each transaction reads what the other inserts; the second COMMIT fails."""
    first = ShopUoW(database, isolation_level="SERIALIZABLE")
    second = ShopUoW(database, isolation_level="SERIALIZABLE")
    statements_done = False
    with pytest.raises(TransactionConflictError) as info:
        async with first, second:
            await first.products.count(category="a")
            await second.products.count(category="b")
            await first.products.create(sku="1", name="n", price=Decimal("1"), category="b")
            await second.products.create(sku="2", name="n", price=Decimal("1"), category="a")
            await first.commit()
            statements_done = True  # only the second unit's COMMIT is left
    assert statements_done
    assert info.value.details["sqlstate"] == "40001"
    assert await count_products(database) == 1


@pytest.mark.postgres
async def test_retry_transaction_recovers_from_a_failed_commit(database):
    calls = []
    outsider = ShopUoW(database, isolation_level="SERIALIZABLE")

    async def work(uow: ShopUoW) -> int:
        calls.append(1)
        seen = await uow.products.count(category="b")
        if len(calls) == 1:
            await outsider.products.create(sku="x", name="n", price=Decimal("1"), category="b")
        await uow.products.create(
            sku=f"y{len(calls)}", name="n", price=Decimal("1"), category="a"
        )
        if len(calls) == 1:
            await outsider.commit()
        return seen

    async with outsider:
        await outsider.products.count(category="a")
        seen = await retry_transaction(
            lambda: ShopUoW(database, isolation_level="SERIALIZABLE"), work
        )
    assert len(calls) == 2 and seen == 1  # the retry saw the outsider's committed row
    assert await count_products(database) == 2


@pytest.mark.postgres
async def test_a_backend_killed_before_commit_is_commit_unknown_and_not_retried(database):
    calls = []

    async def work(uow: ShopUoW) -> None:
        calls.append(1)
        await add_product(uow, "A")
        pid = (await uow.session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with database.engine.connect() as admin:
            await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    with pytest.raises(CommitUnknownError):
        await retry_transaction(lambda: ShopUoW(database), work, attempts=5)
    assert len(calls) == 1
    assert await count_products(database) == 0
