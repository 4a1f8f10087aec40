"""The shop's unit of work: its repositories, built per session."""

from __future__ import annotations

from orm_core import UnitOfWork

from examples.shop.repositories import AccountRepository, OrderRepository, ProductRepository


class ShopUnitOfWork(UnitOfWork):
    products: ProductRepository
    accounts: AccountRepository
    orders: OrderRepository
