"""The shop's container: the ORM container plus the shop's unit of work and services."""

from __future__ import annotations

from dependency_injector import providers

from examples.shop.services import AccountService, CheckoutService, ProductService
from examples.shop.unit_of_work import ShopUnitOfWork
from orm_fastapi import OrmContainer


class ShopContainer(OrmContainer):
    unit_of_work = providers.Factory(ShopUnitOfWork, database=OrmContainer.database)

    # services get the factory itself: each call opens a fresh unit of work
    product_service = providers.Factory(ProductService, uow_factory=unit_of_work.provider)
    checkout_service = providers.Factory(CheckoutService, uow_factory=unit_of_work.provider)
    account_service = providers.Factory(AccountService, uow_factory=unit_of_work.provider)
