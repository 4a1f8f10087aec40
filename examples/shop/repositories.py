"""Repositories with the shop's own queries on top of the generic ones."""

from __future__ import annotations

from examples.shop.models import Account, Order, Product
from orm_repositories import AsyncRepository


class ProductRepository(AsyncRepository[Product]):
    async def by_sku(self, sku: str) -> Product | None:
        """Return the product with this SKU, or None."""
        return await self.first(sku=sku)

    async def low_stock(self, threshold: int = 5) -> list[Product]:
        """Return the products that are running out, fewest first."""
        return await self.list(stock__lte=threshold, order_by=["stock", "name"])

    async def featured(self, n: int) -> list[Product]:
        """Return up to `n` random products that are in stock."""
        return await self.sample(n, stock__gt=0)


class AccountRepository(AsyncRepository[Account]):
    async def by_owner(self, owner: str) -> Account | None:
        """Return the account of this owner, or None."""
        return await self.first(owner=owner)


class OrderRepository(AsyncRepository[Order]):
    async def for_product(self, product_id: int) -> list[Order]:
        """Return the orders of one product, newest first."""
        return await self.list(product_id=product_id, order_by="-id")
