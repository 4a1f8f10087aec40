"""A savepoint whose pending changes fail when it flushes them rolls back to itself only."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orm_core import DuplicateError
from tests.models import Product
from tests.support import ShopUoW


async def test_changes_left_pending_in_a_savepoint_fail_inside_it(database):
    async with ShopUoW(database) as uow:
        await uow.products.create(sku="a", name="a", price=Decimal("1"))
        with pytest.raises(DuplicateError):
            async with uow.savepoint():
                # nothing flushes this before the savepoint ends
                uow.session.add(Product(sku="a", name="again", price=Decimal("1")))
        await uow.products.create(sku="b", name="b", price=Decimal("1"))
    async with ShopUoW(database, read_only=True) as uow:
        assert [(p.sku, p.name) for p in await uow.products.list(order_by="sku")] == [
            ("a", "a"),
            ("b", "b"),
        ]
