"""The shop's tables: products, accounts (optimistically locked) and orders.

Every table belongs to a tenant (`TenantMixin`): SKUs and account owners are unique per
tenant. The default mode serves the whole shop as one tenant (`DEFAULT_TENANT`).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, MetaData, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orm_core import (
    NAMING_CONVENTION,
    Base,
    IdempotencyRecord,
    TenantMixin,
    TimestampMixin,
    VersionMixin,
)


class ShopBase(Base):
    """The shop's own metadata, so its tables never mix with another application's."""

    __abstract__ = True
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# the framework's idempotency keys (`Idempotency-Key` on /transfers and /products) live in
# the shop's database too: its own metadata carries a copy of the table for migrations
IdempotencyRecord.__table__.to_metadata(ShopBase.metadata)


class Product(TenantMixin, TimestampMixin, ShopBase):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_non_negative"),
        UniqueConstraint("tenant_id", "sku"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal]
    stock: Mapped[int] = mapped_column(default=0)
    view_count: Mapped[int] = mapped_column(default=0)
    category: Mapped[str | None] = mapped_column(String(50), index=True)


class Account(TenantMixin, VersionMixin, TimestampMixin, ShopBase):
    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_non_negative"),
        UniqueConstraint("tenant_id", "owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(200))
    balance: Mapped[Decimal] = mapped_column(default=Decimal("0"))


class Order(TenantMixin, TimestampMixin, ShopBase):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int]
    total: Mapped[Decimal]
    customer: Mapped[str | None] = mapped_column(String(100))
