"""process_in_batches: a unit of work per batch, a savepoint per item, a report of both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table, insert, text

from orm_core import (
    BatchReport,
    ConstraintError,
    DatabaseUnavailableError,
    DuplicateError,
    InvalidQueryError,
    process_in_batches,
)
from tests.models import Product
from tests.support import ShopUoW


class CountingFactory:
    """A unit-of-work factory that counts the units it made."""

    def __init__(self, database) -> None:
        self.database = database
        self.made = 0

    def __call__(self) -> ShopUoW:
        self.made += 1
        return ShopUoW(self.database)


async def skus(database) -> list[str]:
    async with ShopUoW(database, read_only=True) as uow:
        return [p.sku for p in await uow.products.list(order_by="sku")]


async def create_product(uow: ShopUoW, sku: str) -> None:
    await uow.products.create(sku=sku, name=sku, price=Decimal("1"))


# -- behaviour ----------------------------------------------------------------------------


async def test_commits_every_item_one_unit_of_work_per_batch(database):
    factory = CountingFactory(database)
    items = [f"sku-{n:03}" for n in range(25)]
    report = await process_in_batches(factory, items, create_product, batch_size=10)
    assert report == BatchReport(succeeded=25, failed=[])
    assert report.total == 25
    assert factory.made == 3
    assert await skus(database) == items


async def test_only_the_items_that_break_a_unique_constraint_fail(database):
    async with ShopUoW(database) as uow:
        await create_product(uow, "taken")
    items = ["a", "taken", "b", "c", "b", "d"]  # one clash with the table, one within the input
    report = await process_in_batches(
        lambda: ShopUoW(database), items, create_product, batch_size=4
    )
    assert report.succeeded == 4
    assert [item for item, _ in report.failed] == ["taken", "b"]
    assert all(isinstance(error, DuplicateError) for _, error in report.failed)
    assert await skus(database) == ["a", "b", "c", "d", "taken"]


async def test_a_failed_item_is_rolled_back_alone(database):
    async def create_then_refuse(uow: ShopUoW, sku: str) -> None:
        await create_product(uow, sku)
        if sku.startswith("bad"):
            raise ValueError(f"{sku} is not welcome")

    report = await process_in_batches(
        lambda: ShopUoW(database), ["ok-1", "bad-1", "ok-2", "bad-2"], create_then_refuse
    )
    assert report.succeeded == 2
    assert [(item, type(error), str(error)) for item, error in report.failed] == [
        ("bad-1", ValueError, "bad-1 is not welcome"),
        ("bad-2", ValueError, "bad-2 is not welcome"),
    ]
    assert await skus(database) == ["ok-1", "ok-2"]


async def test_a_sync_handler_works_and_its_flush_fails_inside_the_savepoint(database):
    def add(uow: ShopUoW, sku: str) -> None:
        uow.session.add(Product(sku=sku, name=sku, price=Decimal("1")))

    report = await process_in_batches(lambda: ShopUoW(database), ["a", "a", "b"], add)
    assert report.succeeded == 2
    assert len(report.failed) == 1
    assert report.failed[0][0] == "a" and isinstance(report.failed[0][1], DuplicateError)
    assert await skus(database) == ["a", "b"]


async def test_items_are_taken_lazily_batch_by_batch(database):
    produced: list[int] = []
    produced_when_handled: dict[int, int] = {}

    def numbers() -> Iterator[int]:
        for n in range(7):
            produced.append(n)
            yield n

    async def handle(uow: ShopUoW, n: int) -> None:
        produced_when_handled[n] = len(produced)
        await create_product(uow, f"n{n}")

    report = await process_in_batches(lambda: ShopUoW(database), numbers(), handle, batch_size=3)
    assert report.succeeded == 7
    assert produced_when_handled == {0: 3, 1: 3, 2: 3, 3: 6, 4: 6, 5: 6, 6: 7}


async def test_async_iterables_are_accepted(database):
    async def numbers() -> AsyncIterator[str]:
        for n in range(5):
            yield f"n{n}"

    report = await process_in_batches(
        lambda: ShopUoW(database), numbers(), create_product, batch_size=2
    )
    assert report.succeeded == 5 and await skus(database) == [f"n{n}" for n in range(5)]


async def test_no_items_open_no_unit_of_work(database):
    factory = CountingFactory(database)
    report = await process_in_batches(factory, iter(()), create_product)
    assert report == BatchReport() and factory.made == 0


# -- a batch that cannot commit ------------------------------------------------------------

deferred = MetaData()
batch_parents = Table("batch_parents", deferred, Column("id", Integer, primary_key=True))
batch_children = Table(
    "batch_children",
    deferred,
    Column("id", Integer, primary_key=True),
    Column(
        "parent_id",
        ForeignKey("batch_parents.id", deferrable=True, initially="DEFERRED"),
        nullable=False,
    ),
)


@pytest.fixture
async def deferred_tables(database):
    await database.create_all(deferred)
    await database.execute("INSERT INTO batch_parents (id) VALUES (1), (2)")
    try:
        yield
    finally:
        await database.drop_all(deferred)


async def test_a_batch_that_fails_at_commit_is_reported_whole_and_the_next_goes_on(
    database, deferred_tables
):
    """A deferred foreign key is checked at COMMIT: the batch holding an orphan is lost."""

    async def add_child(uow: ShopUoW, item: tuple[int, int]) -> None:
        child, parent = item
        await uow.session.execute(insert(batch_children).values(id=child, parent_id=parent))

    items = [(1, 1), (2, 2), (3, 1), (4, 99), (5, 2), (6, 1)]
    report = await process_in_batches(lambda: ShopUoW(database), items, add_child, batch_size=2)
    assert report.succeeded == 4
    assert [item for item, _ in report.failed] == [(3, 1), (4, 99)]
    errors = [error for _, error in report.failed]
    assert all(isinstance(error, ConstraintError) for error in errors)
    assert errors[0] is errors[1]  # the one commit error, for every item of the batch
    rows = await database.fetch_all("SELECT id FROM batch_children ORDER BY id")
    assert [row["id"] for row in rows] == [1, 2, 5, 6]


@pytest.mark.postgres
async def test_a_batch_whose_connection_dies_is_reported_whole(database):
    """The server ends the batch's session mid-batch: the batch is lost, the next commits."""
    handled: list[str] = []

    async def add(uow: ShopUoW, sku: str) -> None:
        handled.append(sku)
        if sku == "kill":
            pid = (await uow.session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await database.execute("SELECT pg_terminate_backend(:pid)", {"pid": pid})
        await create_product(uow, sku)

    items = ["a", "b", "kill", "c", "d", "e"]
    report = await process_in_batches(lambda: ShopUoW(database), items, add, batch_size=4)
    assert report.succeeded == 2
    assert [item for item, _ in report.failed] == ["a", "b", "kill", "c"]
    errors = [error for _, error in report.failed]
    assert all(isinstance(error, DatabaseUnavailableError) for error in errors)
    assert len({id(error) for error in errors}) == 1  # the error that lost the batch
    assert handled == ["a", "b", "kill", "d", "e"]  # nothing more was tried on a dead link
    assert await skus(database) == ["d", "e"]


# -- arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [0, -1, True, 1.5, "10", None])
async def test_a_bad_batch_size_is_rejected_before_any_work(database, batch_size):
    factory = CountingFactory(database)
    with pytest.raises(InvalidQueryError):
        await process_in_batches(factory, ["a"], create_product, batch_size=batch_size)
    assert factory.made == 0


async def test_a_handler_must_be_callable_and_items_iterable(database):
    with pytest.raises(TypeError):
        await process_in_batches(lambda: ShopUoW(database), ["a"], "create")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await process_in_batches(lambda: ShopUoW(database), 42, create_product)  # type: ignore[arg-type]
