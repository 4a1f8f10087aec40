"""Which tenant a request works for: the shop's one tenant, or the one `X-Tenant` names.

Every table of the shop belongs to a tenant. By default the whole shop is one tenant,
`DEFAULT_TENANT`, and requests carry no tenant at all. In header mode each request to
the data endpoints names its tenant in `X-Tenant` and may name its user in `X-User`
(the unit of work's actor, which an audit trail records); FastAPI validates both
before any SQL runs and documents them in the OpenAPI schema.

The choice is a FastAPI dependency (`UnitsDependency`) the application builds once for
its mode: it gives each request a unit-of-work factory bound to the request's tenant,
which both the services and `crud_router` use.
"""

import os
from collections.abc import Callable, Mapping
from functools import partial
from typing import Annotated

from fastapi import Depends, Header

from examples.shop.services import UnitOfWorkFactory
from examples.shop.unit_of_work import ShopUnitOfWork

DEFAULT_TENANT = "shop"
TENANT_PATTERN = r"^[a-z0-9_-]{1,64}$"
TENANT_HEADER_VARIABLE = "SHOP_TENANT_HEADER"

UnitsDependency = Callable[..., UnitOfWorkFactory]

TenantHeader = Annotated[
    str,
    Header(
        pattern=TENANT_PATTERN,
        description="The tenant whose data the request works on: 1-64 lower-case letters, "
        "digits, `_` or `-`.",
    ),
]
UserHeader = Annotated[
    str | None,
    Header(min_length=1, max_length=255, description="Who makes the request (the actor)."),
]


def shop_units(make_unit: Callable[..., ShopUnitOfWork]) -> UnitsDependency:
    """Serve every request as the shop's one tenant: a dependency without parameters.

    `make_unit` is the container's unit-of-work provider, which opens units for
    `DEFAULT_TENANT`.
    """

    def units() -> UnitOfWorkFactory:
        return make_unit

    return units


def header_units(make_unit: Callable[..., ShopUnitOfWork]) -> UnitsDependency:
    """Serve each request as the tenant its `X-Tenant` header names, `X-User` its actor."""

    def units(x_tenant: TenantHeader, x_user: UserHeader = None) -> UnitOfWorkFactory:
        return partial(make_unit, tenant=x_tenant, actor=x_user)

    return units


def unit_of_work_from(units: UnitsDependency) -> Callable[..., ShopUnitOfWork]:
    """Return `crud_router`'s unit-of-work dependency: a fresh unit from the request's factory."""

    def unit_of_work(make: Annotated[UnitOfWorkFactory, Depends(units)]) -> ShopUnitOfWork:
        return make()

    return unit_of_work


def tenant_header_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """Read `SHOP_TENANT_HEADER`: 1, true, yes or on turn the header mode on."""
    environ = os.environ if environ is None else environ
    return environ.get(TENANT_HEADER_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"}
