"""`orm_core.idempotency` without HTTP: the claim, the held unit of work, the stored answer."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from orm_core import (
    Database,
    IdempotencyRecord,
    IdempotentRequest,
    InvalidQueryError,
    StoredAnswer,
    StoredAnswerError,
    TransactionConflictError,
    TransactionError,
    UnitOfWork,
    idempotency_scope,
)
from tests.models import Product

ANSWER = StoredAnswer(201, b'{"id": 1}', {"location": "/products/1"})


def keyed(key: str = "k", fingerprint: str = "f") -> IdempotentRequest:
    request = IdempotentRequest()
    request.activate(key, method="POST", path="/products", fingerprint=fingerprint)
    return request


async def products(database: Database) -> int:
    async with UnitOfWork(database, read_only=True) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(Product)) or 0)


async def create(database: Database, sku: str = "A") -> None:
    async with UnitOfWork(database) as uow:
        uow.session.add(Product(sku=sku, name="a", price=Decimal(1)))


async def test_the_work_and_its_answer_commit_together_after_the_unit_ends(database):
    request = keyed()
    with idempotency_scope(request):
        await create(database)
        assert request.held
        assert await products(database) == 0  # held: not committed yet
        await request.finish(ANSWER)
    assert await products(database) == 1
    async with UnitOfWork(database, read_only=True) as uow:
        record = (await uow.session.execute(select(IdempotencyRecord))).scalar_one()
    assert (record.status, record.body, record.headers) == (201, ANSWER.body, ANSWER.headers)
    assert (record.key, record.method, record.path, record.tenant) == ("k", "POST", "/products", "")


async def test_a_key_answered_already_gives_its_answer_and_writes_nothing(database):
    first = keyed()
    with idempotency_scope(first):
        await create(database)
        await first.finish(ANSWER)
    with idempotency_scope(keyed()), pytest.raises(StoredAnswerError) as stored:
        await create(database, "B")
    assert stored.value.answer == ANSWER
    assert await products(database) == 1
    with idempotency_scope(keyed(fingerprint="other")), pytest.raises(InvalidQueryError):
        await create(database, "B")


async def test_a_failed_unit_releases_the_key_for_the_next_attempt(database):
    request = keyed()
    with idempotency_scope(request):
        with pytest.raises(RuntimeError):
            async with UnitOfWork(database) as uow:
                uow.session.add(Product(sku="A", name="a", price=Decimal(1)))
                await uow.session.flush()
                raise RuntimeError("conflict")
        assert request.unit is None and not request.held
        await create(database)  # the retry claims the key again
        await request.finish(ANSWER)
    assert await products(database) == 1


async def test_an_abandoned_request_leaves_nothing(database):
    request = keyed()
    with idempotency_scope(request):
        await create(database)
        await request.abandon()
    assert await products(database) == 0
    async with UnitOfWork(database, read_only=True) as uow:
        assert (await uow.session.execute(select(IdempotencyRecord))).first() is None


async def test_read_only_units_claim_nothing_and_a_second_writer_is_refused(database):
    request = keyed()
    with idempotency_scope(request):
        await products(database)
        assert request.unit is None
        await create(database)
        with pytest.raises(TransactionError):
            await create(database, "B")
        await request.finish(ANSWER)
    assert await products(database) == 1


async def test_without_a_key_or_outside_a_scope_units_work_as_before(database):
    with idempotency_scope(IdempotentRequest()):
        await create(database)
    await create(database, "B")
    assert await products(database) == 2


def test_a_key_has_1_to_255_characters():
    for bad in ("", "k" * 256, "a\x00b"):
        with pytest.raises(InvalidQueryError):
            keyed(bad)
    assert keyed("k" * 255).active


@pytest.mark.postgres
async def test_a_serializable_unit_that_waited_for_the_key_conflicts_then_replays(database):
    first = keyed()
    entered = asyncio.Event()

    async def work(uow: UnitOfWork) -> None:
        uow.session.add(Product(sku="B", name="b", price=Decimal(1)))

    async def first_request() -> None:
        with idempotency_scope(first):
            async with UnitOfWork(database, isolation_level="SERIALIZABLE") as uow:
                uow.session.add(Product(sku="A", name="a", price=Decimal(1)))
            entered.set()
            await asyncio.sleep(0.3)  # the second waits on the key meanwhile
            await first.finish(ANSWER)

    async def second_request() -> StoredAnswer:
        await entered.wait()
        with idempotency_scope(keyed()):
            with pytest.raises(TransactionConflictError):  # its snapshot misses the new row
                async with UnitOfWork(database, isolation_level="SERIALIZABLE") as uow:
                    await work(uow)
            with pytest.raises(StoredAnswerError) as stored:  # a retry sees it
                async with UnitOfWork(database, isolation_level="SERIALIZABLE") as uow:
                    await work(uow)
        return stored.value.answer

    _, answer = await asyncio.gather(first_request(), second_request())
    assert answer == ANSWER
    assert await products(database) == 1
