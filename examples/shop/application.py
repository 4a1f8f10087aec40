"""`create_app()`: build the container and the FastAPI application (nothing runs at import)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from examples.shop.bootstrap import prepare_database
from examples.shop.containers import ShopContainer
from examples.shop.endpoints import shop_router
from examples.shop.errors import ShopError
from examples.shop.repositories import ProductRepository
from examples.shop.schemas import ProductIn, ProductOut, ProductPatch
from examples.shop.tenancy import (
    header_units,
    shop_units,
    tenant_header_from_env,
    unit_of_work_from,
)
from orm_fastapi import configure_database, crud_router, settings_from_env, setup_orm

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./shop.db"


def create_app(
    database: Mapping[str, Any] | None = None,
    *,
    seed: bool = True,
    tenant_header: bool | None = None,
) -> FastAPI:
    """Build the shop application.

    Database settings come from `database` (url, pool_size, ...), else from
    `DATABASE_URL` and friends, else a SQLite file `shop.db` in the working directory.
    With `tenant_header` (default: the `SHOP_TENANT_HEADER` variable) every data request
    names its tenant in `X-Tenant`; otherwise the whole shop is one tenant.
    """
    if tenant_header is None:
        tenant_header = tenant_header_from_env()
    container = ShopContainer()
    configure_database(
        container, {"url": DEFAULT_DATABASE_URL, **settings_from_env(), **(database or {})}
    )
    make_units = header_units if tenant_header else shop_units
    units = make_units(container.unit_of_work)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await prepare_database(container.database(), seed=seed)
        yield

    app = FastAPI(title="Shop", version="1.0", lifespan=lifespan)
    setup_orm(app, container, idempotency=True)  # Idempotency-Key on writes
    app.add_exception_handler(ShopError, shop_error_handler)
    # the shop's own routes first: /products/featured must not be taken for /products/{id}
    app.include_router(shop_router(container, units))
    app.include_router(
        crud_router(
            ProductRepository,
            unit_of_work=unit_of_work_from(units),
            read_schema=ProductOut,
            create_schema=ProductIn,
            update_schema=ProductPatch,
            prefix="/products",
            filter_fields=["sku", "name", "price", "stock", "category"],
            order_fields=["id", "name", "price", "stock", "view_count", "created_at"],
            max_page_size=100,
            tags=["products"],
        )
    )
    return app


async def shop_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer a business refusal (out of stock, insufficient funds) with 409."""
    message = exc.message if isinstance(exc, ShopError) else "conflict"
    return JSONResponse({"detail": message, "error": type(exc).__name__}, status_code=409)
