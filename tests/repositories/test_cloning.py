"""clone: a copy with a new key and fresh managed columns."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orm_core import DuplicateError, InvalidQueryError
from tests.models import Account, Product
from tests.support import ShopUoW


async def seed(database) -> Product:
    async with ShopUoW(database) as uow:
        return await uow.products.create(
            sku="A-1", name="Widget", price=Decimal("9.99"), stock=7, view_count=3, category="toys"
        )


async def test_clone_copies_fields_under_a_new_key(database):
    original = await seed(database)
    async with ShopUoW(database) as uow:
        copy = await uow.products.clone(original, sku="A-2")
    assert copy.id != original.id
    assert (copy.sku, copy.name, copy.price, copy.stock, copy.category) == (
        "A-2", "Widget", Decimal("9.99"), 7, "toys",
    )  # fmt: skip
    assert copy.created_at > original.created_at and copy.updated_at > original.updated_at
    async with ShopUoW(database) as uow:
        assert await uow.products.count() == 2


async def test_excluded_fields_get_their_defaults(database):
    original = await seed(database)
    async with ShopUoW(database) as uow:
        held = await uow.products.get_one(original.id)
        copy = await uow.products.clone(
            held, exclude_fields=["stock", "view_count", "category"], sku="A-2"
        )
    assert (copy.stock, copy.view_count, copy.category) == (0, 0, None)


async def test_version_and_deleted_at_are_not_copied(database):
    async with ShopUoW(database) as uow:
        account = await uow.accounts.create(owner="ann", balance=Decimal("5"))
        account = await uow.accounts.update(account.id, balance=Decimal("6"))
        assert account.version == 2
        copy = await uow.accounts.clone(account, owner="bob")
        assert (copy.version, copy.balance) == (1, Decimal("6"))
        note = await uow.notes.create(title="gone", meta={"a": 1})
        await uow.notes.soft_delete(note.id)
        deleted = await uow.notes.with_deleted().get_one(note.id)
        revived = await uow.notes.clone(deleted)
        assert revived.deleted_at is None and revived.meta == {"a": 1}
        assert revived.token == note.token
        assert await uow.notes.count() == 1


async def test_composite_keys_are_given_as_overrides(database):
    async with ShopUoW(database) as uow:
        member = await uow.memberships.create(group_id=1, user_id=1, role="owner")
        copy = await uow.memberships.clone(member, group_id=1, user_id=2)
        assert (copy.group_id, copy.user_id, copy.role) == (1, 2, "owner")


async def test_clone_fails_clearly_on_bad_input(database):
    original = await seed(database)
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError, match="unknown field"):
            await uow.products.clone(original, exclude_fields=["nope"], sku="B")
        with pytest.raises(InvalidQueryError):
            await uow.products.clone(original, exclude_fields="stock", sku="B")
        with pytest.raises(InvalidQueryError, match="unknown field"):
            await uow.products.clone(original, nope=1)
        with pytest.raises(InvalidQueryError, match="expected a Product"):
            await uow.products.clone(Account(owner="x"))
        with pytest.raises(InvalidQueryError):
            await uow.products.clone(original, sku=5)
    with pytest.raises(DuplicateError):
        async with ShopUoW(database) as uow:
            await uow.products.clone(original)  # the unique sku is copied too
