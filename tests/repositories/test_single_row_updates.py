"""Single-row updates read their RETURNING row into the session the way a query would.

`update`, `update_if`, the counters, `update_with_lock`, `soft_delete` and `restore`
set the returned columns on the copy the session holds, or add a new persistent
entity; models whose loading runs listeners keep SQLAlchemy's loader.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import event, inspect

from tests.models import Color, Product
from tests.support import ShopUoW

AMSTERDAM = timezone(timedelta(hours=2))


async def seed(database, **values) -> Product:
    row = {"sku": "A-1", "name": "Widget", "price": Decimal("9.99"), "stock": 2, **values}
    async with ShopUoW(database) as uow:
        return await uow.products.create(**row)


async def test_an_update_of_a_row_not_held_gives_a_clean_persistent_entity(database):
    product = await seed(database)
    async with ShopUoW(database) as uow:
        updated = await uow.products.increment(product.id, "stock", 3)
        state = inspect(updated)
        assert state.persistent and not state.modified and not state.expired_attributes
        assert (updated.stock, updated.name, updated.price) == (5, "Widget", Decimal("9.99"))
        assert await uow.products.get(product.id) is updated  # the session's one copy
        updated.name = "Renamed"  # a normal entity: a later flush writes it
    async with ShopUoW(database) as uow:
        assert (await uow.products.get_one(product.id)).name == "Renamed"


async def test_pending_changes_are_flushed_before_the_update_as_a_query_would(database):
    product = await seed(database)
    async with ShopUoW(database) as uow:
        held = await uow.products.get_one(product.id)
        held.name = "Pending"
        assert await uow.products.update(product.id, stock=7) is held
        assert (held.name, held.stock) == ("Pending", 7)
        assert not inspect(held).modified
    async with ShopUoW(database) as uow:
        stored = await uow.products.get_one(product.id)
        assert (stored.name, stored.stock) == ("Pending", 7)


async def test_the_held_copy_takes_every_returned_column(database):
    product = await seed(database)
    async with ShopUoW(database) as uow:
        held = await uow.products.get_one(product.id)
        uow.session.expire(held)
        ok, updated = await uow.products.update_if(product.id, {"stock": 2}, stock=0)
        assert ok and updated is held
        assert not inspect(held).expired_attributes
        assert (held.stock, held.sku) == (0, "A-1")
        assert held.updated_at > product.updated_at


async def test_load_and_refresh_listeners_still_run(database):
    product = await seed(database)
    loaded, refreshed = [], []

    def on_load(target, _context):
        loaded.append(target.id)

    def on_refresh(target, _context, _attrs):
        refreshed.append(target.id)

    event.listen(Product, "load", on_load)
    event.listen(Product, "refresh", on_refresh)
    try:
        async with ShopUoW(database) as uow:
            await uow.products.update(product.id, stock=1)  # not held: loaded
            await uow.products.increment(product.id, "stock")  # held: refreshed
    finally:
        event.remove(Product, "load", on_load)
        event.remove(Product, "refresh", on_refresh)
    # each of the two updates ran SQLAlchemy's loader and with it the listeners
    assert loaded + refreshed == [product.id] * 2, (loaded, refreshed)


async def test_one_prepared_shape_carries_every_kind_of_value_call_after_call(database):
    # the same shape twice: the statement is built once, the values are bound per call
    seen = datetime(2024, 5, 1, 12, 30, tzinfo=AMSTERDAM)
    calls = [
        {"color": Color.BLUE, "due": date(2024, 2, 29), "meta": {"tags": ["a"], "n": 1.5},
         "seen_at": seen},
        {"color": Color.RED, "due": None, "meta": None, "seen_at": None},
        {"color": Color.BLUE, "due": date(2000, 1, 1), "meta": {"nested": {"x": [1, None]}},
         "seen_at": seen + timedelta(days=400)},
    ]  # fmt: skip
    async with ShopUoW(database) as uow:
        note = await uow.notes.create(id=1, title="n")
    for values in calls:
        async with ShopUoW(database) as uow:
            returned = await uow.notes.update(note.id, **values)
            got = {k: getattr(returned, k) for k in values}
        async with ShopUoW(database) as uow:
            stored = await uow.notes.get_one(note.id)
            read = {k: getattr(stored, k) for k in values}
        assert got == read == values
        assert isinstance(read["color"], Color)
        if read["seen_at"] is not None:  # the same instant, handed back in UTC
            assert got["seen_at"].utcoffset() == read["seen_at"].utcoffset() == timedelta(0)


async def test_a_prepared_update_rounds_decimals_to_the_column_scale_as_create_does(database):
    product = await seed(database)
    async with ShopUoW(database) as uow:
        created = await uow.products.create(sku="C", name="c", price=Decimal("2.345"))
        first = await uow.products.update(product.id, price=Decimal("2.345"))
        assert first.price == created.price == Decimal("2.35")
    async with ShopUoW(database) as uow:
        again = await uow.products.update(product.id, price=Decimal("-0.005"))
        assert again.price == Decimal("-0.01")
    async with ShopUoW(database) as uow:
        assert (await uow.products.get_one(product.id)).price == Decimal("-0.01")


async def test_prepared_conditions_compare_enums_datetimes_and_nulls_per_call(database):
    seen = datetime(2024, 5, 1, 12, 30, tzinfo=AMSTERDAM)
    async with ShopUoW(database) as uow:
        await uow.notes.create(id=1, title="a", color=Color.BLUE, seen_at=seen)
        await uow.notes.create(id=2, title="b", color=Color.RED, seen_at=None)
    async with ShopUoW(database) as uow:
        # one shape, compared values bound per call: only the row that matches moves
        ok, _ = await uow.notes.update_if(1, {"color": Color.RED}, title="wrong")
        assert not ok
        ok, note = await uow.notes.update_if(1, {"color": Color.BLUE}, title="blue")
        assert ok and note.title == "blue"
        ok, _ = await uow.notes.update_if(1, {"seen_at__lt": seen}, title="wrong")
        assert not ok
        ok, note = await uow.notes.update_if(
            1, {"seen_at__lt": seen + timedelta(seconds=1)}, title="earlier"
        )
        assert ok and note.title == "earlier"
        ok, _ = await uow.notes.update_if(2, {"seen_at__isnull": False}, title="wrong")
        assert not ok
        ok, note = await uow.notes.update_if(2, {"seen_at__isnull": True}, title="never seen")
        assert ok and note.title == "never seen"
    async with ShopUoW(database) as uow:
        titles = {n.id: n.title for n in await uow.notes.list()}
    assert titles == {1: "earlier", 2: "never seen"}
