"""The shop's unit of work: its repositories, built per session."""

from __future__ import annotations

from examples.shop.repositories import AccountRepository, OrderRepository, ProductRepository
from orm_core import UnitOfWork


class ShopUnitOfWork(UnitOfWork):
    products: ProductRepository
    accounts: AccountRepository
    orders: OrderRepository
