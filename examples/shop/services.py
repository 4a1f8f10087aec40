"""Business operations, each one unit of work; they know nothing of HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from examples.shop.errors import InsufficientFundsError, OutOfStockError
from examples.shop.models import Account, Order, Product
from examples.shop.unit_of_work import ShopUnitOfWork
from orm_core import ConcurrentModificationError, NotFoundError, retry_transaction

UnitOfWorkFactory = Callable[[], ShopUnitOfWork]


class ProductService:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow = uow_factory

    async def sync(self, rows: Iterable[dict[str, Any]]) -> int:
        """Insert new products and update known ones (matched on SKU) in one statement per batch.

        SKUs are unique per tenant: the unit's tenant fills in `tenant_id` of the key.
        """
        async with self._uow() as uow:
            return await uow.products.upsert_many(list(rows), conflict_fields=["tenant_id", "sku"])

    async def record_view(self, product_id: int) -> Product:
        """Add one to a product's view counter atomically (no lost updates under load)."""
        async with self._uow() as uow:
            product = await uow.products.increment(product_id, "view_count")
            if product is None:
                raise NotFoundError(
                    "Product not found", {"model": "Product", "filters": {"id": product_id}}
                )
            return product

    async def featured(self, n: int) -> list[Product]:
        """Return up to `n` random products in stock."""
        async with self._uow() as uow:
            return await uow.products.featured(n)


class CheckoutService:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow = uow_factory

    async def checkout(self, product_id: int, quantity: int, customer: str | None = None) -> Order:
        """Take `quantity` items out of stock and record the order, all or nothing.

        The stock is decremented by one conditional UPDATE (`stock >= quantity`), so
        concurrent checkouts never oversell.
        """
        async with self._uow() as uow:
            product = await uow.products.decrement(product_id, "stock", quantity, min_value=0)
            if product is None:
                if not await uow.products.exists(id=product_id):
                    raise NotFoundError(
                        "Product not found", {"model": "Product", "filters": {"id": product_id}}
                    )
                raise OutOfStockError(f"fewer than {quantity} of product {product_id} in stock")
            return await uow.orders.create(
                product_id=product.id,
                quantity=quantity,
                total=product.price * quantity,
                customer=customer,
            )


class AccountService:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow = uow_factory

    async def open(self, **values: Any) -> Account:
        """Open an account."""
        async with self._uow() as uow:
            return await uow.accounts.create(**values)

    async def get(self, account_id: int) -> Account:
        """Return one account."""
        async with self._uow() as uow:
            return await uow.accounts.get_one(account_id)

    async def update(
        self, account_id: int, changes: dict[str, Any], expected_version: int | None
    ) -> Account:
        """Change an account's details if it still has `expected_version` (when given).

        The version is checked again by the UPDATE itself, so a concurrent writer
        between the read and the write is caught too.
        """
        async with self._uow() as uow:
            account = await uow.accounts.get_one(account_id)
            if expected_version is not None and account.version != expected_version:
                raise ConcurrentModificationError(
                    "the account was modified since it was read", {"version": account.version}
                )
            if not changes:
                return account
            return await uow.accounts.update_with_lock(account, **changes)

    async def transfer(
        self, source_id: int, target_id: int, amount: Decimal
    ) -> tuple[Account, Account]:
        """Move money between two accounts; retried as a whole if the database aborts it."""

        async def work(uow: ShopUnitOfWork) -> tuple[Account, Account]:
            # locks in primary-key order: two opposite transfers queue instead of deadlocking
            locked = {a.id: a for a in await uow.accounts.lock_many([source_id, target_id])}
            for account_id in (source_id, target_id):
                if account_id not in locked:
                    raise NotFoundError(
                        "Account not found", {"model": "Account", "filters": {"id": account_id}}
                    )
            source, target = locked[source_id], locked[target_id]
            if source.balance < amount:
                raise InsufficientFundsError(f"account {source_id} cannot cover {amount}")
            source = await uow.accounts.update_fields(source, balance=source.balance - amount)
            target = await uow.accounts.update_fields(target, balance=target.balance + amount)
            return source, target

        return await retry_transaction(self._uow, work, attempts=5)
