"""Repositories and a unit of work over the shared test models."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from orm_core import Database, UnitOfWork
from orm_repositories import AsyncRepository
from tests.models import Account, Membership, Note, Order, Product, Ticket


class ProductRepository(AsyncRepository[Product]):
    pass


class ShopUoW(UnitOfWork):
    products: ProductRepository
    orders: AsyncRepository[Order]
    accounts: AsyncRepository[Account]
    notes: AsyncRepository[Note]
    memberships: AsyncRepository[Membership]
    tickets: AsyncRepository[Ticket]


def product_row(n: int, **extra: Any) -> dict[str, Any]:
    """A valid `Product` row numbered `n`."""
    return {"sku": f"SKU-{n:06d}", "name": f"Product {n}", "price": Decimal(n) / 100, **extra}


async def seed_products(database: Database, count: int, **extra: Any) -> list[Product]:
    """Insert `count` products and return them."""
    async with ShopUoW(database) as uow:
        return [await uow.products.create(**product_row(n, **extra)) for n in range(1, count + 1)]
