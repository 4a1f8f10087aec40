"""Write events: every write path fires them, before_* can veto, after_commit only on commit."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, true

from orm_core import (
    DuplicateError,
    InvalidQueryError,
    OutboxMessage,
    WriteEvent,
    off,
    on,
    relay_outbox,
)
from orm_core.events import clear
from tests.models import Product
from tests.support import ShopUoW, product_row


@pytest.fixture
def events() -> Iterator[list[WriteEvent]]:
    """Every write event of Product, as fired (after_commit ones as lists)."""
    seen: list[Any] = []
    names = ("before_create", "after_create", "before_update", "after_update",
             "before_delete", "after_delete", "after_commit")  # fmt: skip
    handlers = []
    for name in names:
        handler = on(name, Product)(seen.append)
        handlers.append(handler)
    yield seen
    for handler in handlers:
        off(handler)


async def seed(database, n: int = 3) -> list[int]:
    async with ShopUoW(database) as uow:
        return [(await uow.products.create(**product_row(i, stock=10))).id for i in range(1, n + 1)]


def fired(seen: list[Any]) -> list[tuple[str, int]]:
    """(event, rows) of each write event, after_commit left out."""
    return [(e.name, len(e.rows)) for e in seen if isinstance(e, WriteEvent)]


# every write method, and the events (with their row counts) it fires
WRITES: dict[str, tuple[Any, list[tuple[str, int]]]] = {
    "create": (lambda r, ids: r.create(**product_row(9)),
               [("before_create", 1), ("after_create", 1)]),
    "add": (lambda r, ids: r.add(Product(**product_row(9))),
            [("before_create", 1), ("after_create", 1)]),
    "add_many": (lambda r, ids: r.add_many([Product(**product_row(n)) for n in (8, 9)]),
                 [("before_create", 2), ("after_create", 2)]),
    "bulk_create": (lambda r, ids: r.bulk_create([product_row(n) for n in range(10, 15)],
                                                 batch_size=2),
                    [("before_create", 2), ("after_create", 2)] * 2
                    + [("before_create", 1), ("after_create", 1)]),
    "get_or_create": (lambda r, ids: r.get_or_create({"name": "n", "price": 1}, sku="new"),
                      [("before_create", 1), ("after_create", 1)]),
    "clone": (lambda r, ids: _clone(r, ids), [("before_create", 1), ("after_create", 1)]),
    "update": (lambda r, ids: r.update(ids[0], stock=1),
               [("before_update", 1), ("after_update", 1)]),
    "update_fields": (lambda r, ids: _update_fields(r, ids),
                      [("before_update", 1), ("after_update", 1)]),
    "update_where": (lambda r, ids: r.update_where({"stock": 2}, true()),
                     [("before_update", 1), ("after_update", 3)]),
    "bulk_update": (lambda r, ids: r.bulk_update([{"id": i, "stock": 3} for i in ids]),
                    [("before_update", 3), ("after_update", 3)]),
    "update_if": (lambda r, ids: r.update_if(ids[0], {"stock": 10}, stock=4),
                  [("before_update", 1), ("after_update", 1)]),
    "update_or_create": (lambda r, ids: r.update_or_create({"stock": 5}, sku="SKU-000001"),
                         [("before_update", 1), ("after_update", 1)]),
    "increment": (lambda r, ids: r.increment(ids[0], "stock"),
                  [("before_update", 1), ("after_update", 1)]),
    "decrement": (lambda r, ids: r.decrement(ids[0], "stock"),
                  [("before_update", 1), ("after_update", 1)]),
    "upsert (insert)": (lambda r, ids: r.upsert(conflict_fields="sku", **product_row(9)),
                        [("before_create", 1), ("after_create", 1)]),
    "upsert (update)": (lambda r, ids: r.upsert(conflict_fields="sku",
                                                **product_row(1, name="x")),
                        [("before_create", 1), ("after_update", 1)]),
    "upsert_many": (lambda r, ids: r.upsert_many([product_row(1, name="x"), product_row(9)],
                                                 conflict_fields="sku"),
                    [("before_create", 2), ("after_create", 1), ("after_update", 1)]),
    "delete": (lambda r, ids: r.delete(ids[0]), [("before_delete", 1), ("after_delete", 1)]),
    "bulk_delete": (lambda r, ids: r.bulk_delete(ids),
                    [("before_delete", 3), ("after_delete", 3)]),
    "delete_where": (lambda r, ids: r.delete_where(stock__gte=0),
                     [("before_delete", 1), ("after_delete", 3)]),
}  # fmt: skip


async def _clone(repo, ids):
    return await repo.clone(await repo.get_one(ids[0]), sku="copy")


async def _update_fields(repo, ids):
    return await repo.update_fields(await repo.get_one(ids[0]), stock=9)


@pytest.mark.parametrize("write", sorted(WRITES))
async def test_every_write_path_fires_its_events_with_the_rows_it_wrote(database, events, write):
    ids = await seed(database)
    events.clear()
    call, expected = WRITES[write]
    async with ShopUoW(database) as uow:
        await call(uow.products, ids)
    assert fired(events) == expected
    committed = [e for e in events if isinstance(e, list)]
    assert len(committed) == 1  # after_commit, once, with the after_* events of the unit
    assert [e.name for e in committed[0]] == [n for n, _ in expected if n.startswith("after")]


async def test_event_rows_hold_keys_and_values(database, events):
    ids = await seed(database)
    events.clear()
    async with ShopUoW(database) as uow:
        await uow.products.update(ids[0], stock=7)
        await uow.products.update_where({"stock": uow.products.model.stock + 1}, id=ids[1])
        await uow.products.delete(ids[2])
    before_update, after_update, before_where, after_where, before_delete, after_delete = (
        e for e in events if isinstance(e, WriteEvent)
    )
    assert before_update.rows == [{"id": ids[0], "stock": 7}]
    assert after_update.rows[0]["id"] == ids[0] and after_update.rows[0]["stock"] == 7
    assert "updated_at" in after_update.rows[0]
    assert list(before_where.rows[0]) == ["stock"]  # a SQL expression stays one
    [where_row] = after_where.rows
    assert where_row == {"id": ids[1], "stock": 11, "updated_at": where_row["updated_at"]}
    assert before_delete.rows == [{"id": ids[2]}] and after_delete.rows == [{"id": ids[2]}]
    assert after_update.unit_of_work is not None and after_update.model is Product


@pytest.mark.parametrize(
    "write",
    [
        lambda r: r.create(**product_row(9)),
        lambda r: r.bulk_create([product_row(n) for n in range(10, 20)], batch_size=3),
        lambda r: r.update_where({"stock": 0}, true()),
        lambda r: r.delete_where(stock__gte=0),
        lambda r: r.upsert_many([product_row(n) for n in range(1, 6)], conflict_fields="sku"),
    ],
)
async def test_a_before_handler_that_raises_vetoes_the_whole_call(database, write):
    await seed(database)
    calls = 0

    @on("before_create", Product)
    @on("before_update", Product)
    @on("before_delete", Product)
    def veto(event: WriteEvent) -> None:
        nonlocal calls
        calls += 1
        if calls == 3 or event.name != "before_create" or len(event.rows) in (1, 5):
            raise PermissionError("no")

    try:
        async with ShopUoW(database) as uow:
            with pytest.raises(PermissionError):
                await write(uow.products)
            assert await uow.products.count() == 3  # the unit goes on
            rows = await uow.products.list(order_by="id")
            assert [p.stock for p in rows] == [10, 10, 10]
    finally:
        off(veto)
    async with ShopUoW(database) as uow:
        assert await uow.products.count() == 3


async def test_after_commit_never_runs_after_a_rollback_a_failed_commit_or_a_cancel(database):
    await seed(database)
    committed: list[list[WriteEvent]] = []
    on("after_commit", Product)(committed.append)
    try:
        with pytest.raises(RuntimeError):
            async with ShopUoW(database) as uow:
                await uow.products.create(**product_row(20))
                raise RuntimeError("rolled back")
        async with ShopUoW(database) as uow:
            await uow.products.create(**product_row(21))
            await uow.rollback()
        with pytest.raises(DuplicateError):
            async with ShopUoW(database) as uow:
                await uow.products.create(**product_row(22))
                uow.session.add(Product(sku="SKU-000001", name="clash", price=Decimal(1)))
                await uow.commit()

        async def cancelled() -> None:
            async with ShopUoW(database) as uow:
                await uow.products.create(**product_row(23))
                await asyncio.sleep(10)

        task = asyncio.create_task(cancelled())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert committed == []
        async with ShopUoW(database) as uow:
            await uow.products.create(**product_row(24))
            await uow.commit()  # an explicit commit counts too
            await uow.products.create(**product_row(25))
        skus = [[e.rows[0]["sku"] for e in c] for c in committed]
        assert skus == [["SKU-000024"], ["SKU-000025"]]
    finally:
        off(committed.append)


async def test_after_commit_errors_propagate_after_every_handler_ran(database):
    ran: list[str] = []

    @on("after_commit")
    def first(events: list[WriteEvent]) -> None:
        ran.append("first")
        raise ValueError("first failed")

    @on("after_commit")
    async def second(events: list[WriteEvent]) -> None:
        ran.append("second")

    try:
        with pytest.raises(ValueError, match="first failed"):
            async with ShopUoW(database) as uow:
                await uow.products.create(**product_row(1))
        assert ran == ["first", "second"]
        async with ShopUoW(database) as uow:
            assert await uow.products.count() == 1  # the commit itself stood
    finally:
        off(first)
        off(second)


async def test_events_without_models_see_every_model_and_model_filters_apply(database):
    seen: list[str] = []
    everything = on("after_create")(lambda event: seen.append(event.model.__name__))
    try:
        async with ShopUoW(database) as uow:
            await uow.products.create(**product_row(1))
            await uow.tags.create(name="t")
        assert seen == ["Product", "BlogTag"]
    finally:
        off(everything)


async def test_write_events_can_be_published_to_the_outbox(database):
    on("after_create", Product, outbox="products")
    try:
        async with ShopUoW(database) as uow:
            await uow.products.create(**product_row(1))
        async with ShopUoW(database) as uow:
            await uow.products.create(**product_row(2))
            await uow.rollback()
        delivered: list[OutboxMessage] = []
        assert await relay_outbox(database, delivered.append) == 1
        assert delivered[0].topic == "products"
        assert delivered[0].payload["rows"][0]["sku"] == "SKU-000001"
    finally:
        clear()
    async with ShopUoW(database) as uow:
        pending = await uow.session.scalar(select(func.count()).select_from(OutboxMessage))
        assert pending == 1


def test_unknown_events_and_misplaced_outboxes_are_refused():
    with pytest.raises(InvalidQueryError):
        on("before_save")
    with pytest.raises(InvalidQueryError):
        on("before_create", outbox="x")
