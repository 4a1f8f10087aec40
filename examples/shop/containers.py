"""The shop's container: the ORM container plus the shop's unit of work and services."""

from __future__ import annotations

from dependency_injector import providers

from examples.shop.services import AccountService, CheckoutService, ProductService
from examples.shop.tenancy import DEFAULT_TENANT
from examples.shop.unit_of_work import ShopUnitOfWork
from orm_fastapi import OrmContainer


class ShopContainer(OrmContainer):
    # units of work for the shop's one tenant; header mode passes tenant= and actor= per call
    unit_of_work = providers.Factory(
        ShopUnitOfWork, database=OrmContainer.database, tenant=DEFAULT_TENANT
    )

    # services get a factory of units of work: each call opens a fresh one. The endpoints
    # build them per request with that request's factory (`product_service(uow_factory=...)`)
    product_service = providers.Factory(ProductService, uow_factory=unit_of_work.provider)
    checkout_service = providers.Factory(CheckoutService, uow_factory=unit_of_work.provider)
    account_service = providers.Factory(AccountService, uow_factory=unit_of_work.provider)
