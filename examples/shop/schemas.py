"""Request and response bodies. Input is validated here, before any SQL runs."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from examples.shop.models import Account, Order, Product
from orm_core import schema_for

Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
PositiveMoney = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)]
Count = Annotated[int, Field(ge=0, le=1_000_000)]
Sku = Annotated[str, Field(min_length=1, max_length=50)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Category = Annotated[str | None, Field(max_length=50)]

# the tenant is the request's own (or the shop's one): answers do not repeat it
ProductOut = schema_for(Product, name="ProductOut", exclude=["tenant_id"])
AccountOut = schema_for(Account, name="AccountOut", exclude=["tenant_id"])
OrderOut = schema_for(Order, name="OrderOut", exclude=["tenant_id"])


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Sku
    name: Name
    price: Money
    stock: Count = 0
    category: Category = None


def omittable() -> Any:
    """A PATCH field that may be left out but not sent as null (its column is NOT NULL).

    The schema then documents the field as not nullable, and shows no `null` default.
    """
    return Field(default=None, json_schema_extra=_drop_default)


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class ProductPatch(BaseModel):
    """The fields to change; a field left out keeps its value, only `category` may be null."""

    model_config = ConfigDict(extra="forbid")

    name: Name = omittable()
    price: Money = omittable()
    stock: Count = omittable()
    category: Category = None


class ProductSyncItem(ProductIn):
    """One product of a catalogue feed, matched on its SKU."""


class SyncResult(BaseModel):
    synced: int


class ViewCount(BaseModel):
    id: int
    view_count: int


class CheckoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    quantity: Annotated[int, Field(ge=1, le=1000)] = 1
    customer: Annotated[str | None, Field(max_length=100)] = None


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner: Annotated[str, Field(min_length=1, max_length=100)]
    email: Annotated[str | None, Field(max_length=200)] = None
    balance: Money = Decimal("0")


class AccountPatch(BaseModel):
    """The fields a client may change; the balance only moves through transfers."""

    model_config = ConfigDict(extra="forbid")

    owner: Annotated[str, Field(min_length=1, max_length=100)] = omittable()
    email: Annotated[str | None, Field(max_length=200)] = None


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    target_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    amount: PositiveMoney

    @model_validator(mode="after")
    def _distinct_accounts(self) -> TransferIn:
        if self.source_id == self.target_id:
            raise ValueError("source and target must be different accounts")
        return self


class TransferOut(BaseModel):
    source: AccountOut  # type: ignore[valid-type]
    target: AccountOut  # type: ignore[valid-type]
