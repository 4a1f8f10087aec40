"""HTTP endpoints beyond plain CRUD, built per application for its tenancy mode.

Services come from the container's providers, built per request with that request's
unit-of-work factory (`container.product_service(uow_factory=...)`), so every service
call works for the request's tenant. The factory comes from the `units` dependency the
application picked for its mode (see `tenancy.py`): it is why the routes are built in
a function rather than at import time with `@inject`, whose wiring would be fixed per
module instead of per application.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response

from examples.shop.containers import ShopContainer
from examples.shop.schemas import (
    AccountIn,
    AccountOut,
    AccountPatch,
    CheckoutIn,
    OrderOut,
    ProductOut,
    ProductSyncItem,
    SyncResult,
    TransferIn,
    TransferOut,
    ViewCount,
)
from examples.shop.services import (
    AccountService,
    CheckoutService,
    ProductService,
    UnitOfWorkFactory,
)
from examples.shop.tenancy import UnitsDependency
from orm_fastapi import error_responses, idempotent

NOT_MODIFIED = {304: {"description": "Not modified: `If-None-Match` names this version"}}


def shop_router(container: ShopContainer, units: UnitsDependency) -> APIRouter:
    """Build the shop's own routes; `units` gives each request its unit-of-work factory."""
    Units = Annotated[UnitOfWorkFactory, Depends(units)]

    def product_service(uow_factory: Units) -> ProductService:
        return container.product_service(uow_factory=uow_factory)

    def checkout_service(uow_factory: Units) -> CheckoutService:
        return container.checkout_service(uow_factory=uow_factory)

    def account_service(uow_factory: Units) -> AccountService:
        return container.account_service(uow_factory=uow_factory)

    Products = Annotated[ProductService, Depends(product_service)]
    Checkout = Annotated[CheckoutService, Depends(checkout_service)]
    Accounts = Annotated[AccountService, Depends(account_service)]
    router = APIRouter()

    @router.post(
        "/products/sync", response_model=SyncResult, tags=["products"],
        responses=error_responses(409, 422, 503),
    )  # fmt: skip
    async def sync_products(
        items: Annotated[list[ProductSyncItem], Body(max_length=1000)], products: Products
    ) -> SyncResult:
        """Insert or update products from a catalogue feed, matched on SKU."""
        synced = await products.sync(item.model_dump() for item in items)
        return SyncResult(synced=synced)

    @router.get(
        "/products/featured", response_model=list[ProductOut], tags=["products"],
        responses=error_responses(422, 503),
    )  # fmt: skip
    async def featured_products(
        products: Products, n: Annotated[int, Query(ge=1, le=50)] = 3
    ) -> list[Any]:
        """Return up to `n` random products in stock."""
        return [ProductOut.model_validate(p) for p in await products.featured(n)]

    @router.post(
        "/products/{product_id:int}/views", response_model=ViewCount, tags=["products"],
        responses=error_responses(404, 422, 503),
    )  # fmt: skip
    async def record_view(product_id: int, products: Products) -> ViewCount:
        """Count one view of a product."""
        product = await products.record_view(product_id)
        return ViewCount(id=product.id, view_count=product.view_count)

    @router.post(
        "/checkout", response_model=OrderOut, status_code=201, tags=["orders"],
        responses=error_responses(404, 409, 422, 503),
    )  # fmt: skip
    async def checkout(body: CheckoutIn, service: Checkout) -> Any:
        """Buy `quantity` items of a product; 409 when not enough are in stock."""
        order = await service.checkout(body.product_id, body.quantity, body.customer)
        return OrderOut.model_validate(order)

    @router.post(
        "/accounts", response_model=AccountOut, status_code=201, tags=["accounts"],
        responses=error_responses(409, 422, 503),
    )  # fmt: skip
    async def open_account(
        body: AccountIn, request: Request, response: Response, accounts: Accounts
    ) -> Any:
        """Open an account."""
        account = await accounts.open(**body.model_dump())
        response.headers["Location"] = str(request.url_for("get_account", account_id=account.id))
        response.headers["ETag"] = _etag(account.version)
        return AccountOut.model_validate(account)

    @router.get(
        "/accounts/{account_id:int}", response_model=AccountOut, tags=["accounts"],
        responses={**NOT_MODIFIED, **error_responses(404, 422, 503)},
    )  # fmt: skip
    async def get_account(
        account_id: int,
        response: Response,
        accounts: Accounts,
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Any:
        """Return an account with its `ETag`; 304 when `If-None-Match` names the current one."""
        account = await accounts.get(account_id)
        if if_none_match is not None and _etag(account.version) in _tags(if_none_match):
            return Response(status_code=304, headers={"ETag": _etag(account.version)})
        response.headers["ETag"] = _etag(account.version)
        return AccountOut.model_validate(account)

    @router.patch(
        "/accounts/{account_id:int}", response_model=AccountOut, tags=["accounts"],
        responses=error_responses(404, 409, 412, 422, 503),
    )  # fmt: skip
    async def update_account(
        account_id: int,
        body: AccountPatch,
        response: Response,
        accounts: Accounts,
        if_match: Annotated[str | None, Header()] = None,
    ) -> Any:
        """Change owner or email; with `If-Match`, only if nobody changed it since (else 412)."""
        account = await accounts.update(
            account_id, body.model_dump(exclude_unset=True), _expected_version(if_match)
        )
        response.headers["ETag"] = _etag(account.version)
        return AccountOut.model_validate(account)

    # a client that times out may retry with the same Idempotency-Key: the money moves once
    @router.post(
        "/transfers", response_model=TransferOut, tags=["accounts"],
        dependencies=[Depends(idempotent)], responses=error_responses(404, 409, 422, 503),
    )  # fmt: skip
    async def transfer(body: TransferIn, accounts: Accounts) -> TransferOut:
        """Move money between two accounts; 409 when the source cannot cover it.

        With an `Idempotency-Key`, a retry gets the first answer and moves nothing again.
        """
        source, target = await accounts.transfer(body.source_id, body.target_id, body.amount)
        return TransferOut(
            source=AccountOut.model_validate(source), target=AccountOut.model_validate(target)
        )

    return router


def _etag(version: int) -> str:
    return f'"{version}"'


def _tags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


def _expected_version(if_match: str | None) -> int | None:
    """Read the version an `If-Match` header names; -1 (never current) when it names none."""
    if if_match is None or if_match.strip() == "*":
        return None
    for tag in _tags(if_match):
        digits = tag.strip('"')
        if digits.isdigit() and len(digits) < 10:
            return int(digits)
    return -1
