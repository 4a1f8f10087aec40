"""Single-row updates read their RETURNING row into the session the way a query would.

`update`, `update_if`, the counters, `update_with_lock`, `soft_delete` and `restore`
set the returned columns on the copy the session holds, or add a new persistent
entity; models whose loading runs listeners keep SQLAlchemy's loader.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import event, inspect

from tests.models import Product
from tests.support import ShopUoW


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
