from __future__ import annotations

from decimal import Decimal

import pytest

from orm_core import DuplicateError, NotFoundError
from tests.support import ShopUoW


async def test_creates_and_reads_back_after_commit(database):
    async with ShopUoW(database) as uow:
        p = await uow.products.create(sku="A-1", name="Widget", price=Decimal("9.99"))
        a = await uow.accounts.create(owner="ann")
        n = await uow.notes.create(title="hello")
    assert p.id == 1 and p.updated_at.tzinfo is not None
    assert a.version == 1
    assert n.deleted_at is None
    async with ShopUoW(database) as uow:
        got = await uow.products.get_one(p.id)
        assert got.price == Decimal("9.99")
        got2 = await uow.products.update(p.id, name="Gadget")
        acc = await uow.accounts.update(a.id, balance=Decimal("5"))
    assert got2.name == "Gadget" and got2.updated_at >= p.updated_at
    assert acc.version == 2
    async with ShopUoW(database) as uow:
        with pytest.raises(NotFoundError):
            await uow.products.get_one(999)
    with pytest.raises(DuplicateError) as info:
        async with ShopUoW(database) as uow:
            await uow.products.create(sku="A-1", name="Other", price=Decimal("1"))
    assert info.value.details["fields"] == ["sku"]
