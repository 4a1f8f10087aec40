"""The shop's tables: products, accounts (optimistically locked) and orders."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, MetaData, String
from sqlalchemy.orm import Mapped, mapped_column

from orm_core import NAMING_CONVENTION, Base, TimestampMixin, VersionMixin


class ShopBase(Base):
    """The shop's own metadata, so its tables never mix with another application's."""

    __abstract__ = True
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Product(TimestampMixin, ShopBase):
    __tablename__ = "products"
    __table_args__ = (CheckConstraint("stock >= 0", name="stock_non_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal]
    stock: Mapped[int] = mapped_column(default=0)
    view_count: Mapped[int] = mapped_column(default=0)
    category: Mapped[str | None] = mapped_column(String(50), index=True)


class Account(VersionMixin, TimestampMixin, ShopBase):
    __tablename__ = "accounts"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_non_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str | None] = mapped_column(String(200))
    balance: Mapped[Decimal] = mapped_column(default=Decimal("0"))


class Order(TimestampMixin, ShopBase):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int]
    total: Mapped[Decimal]
    customer: Mapped[str | None] = mapped_column(String(100))
