"""Models shared by the tests (plain declarative classes, no behaviour)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from orm_core import Base, SoftDeleteMixin, TimestampMixin, VersionMixin


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Product(TimestampMixin, Base):
    __tablename__ = "products"
    __table_args__ = (CheckConstraint("stock >= 0", name="stock_non_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal]
    stock: Mapped[int] = mapped_column(default=0)
    view_count: Mapped[int] = mapped_column(default=0)
    category: Mapped[str | None] = mapped_column(String(50))


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(default=1)


class Account(VersionMixin, TimestampMixin, Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(100), unique=True)
    balance: Mapped[Decimal] = mapped_column(default=Decimal("0"))


class Note(SoftDeleteMixin, TimestampMixin, Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    color: Mapped[Color] = mapped_column(default=Color.RED)
    token: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    due: Mapped[date | None]
    meta: Mapped[dict[str, Any] | None]
    seen_at: Mapped[datetime | None]


class Membership(Base):
    __tablename__ = "memberships"

    group_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    role: Mapped[str] = mapped_column(String(20), default="member")


class Ticket(TimestampMixin, Base):
    """Columns filled in by the database (server defaults) or by SQL expressions."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), server_default="open")
    priority: Mapped[int] = mapped_column(server_default="3")
    code: Mapped[str] = mapped_column(String(20), default=func.lower("TK"))
    amount: Mapped[Decimal | None]


class Job(SoftDeleteMixin, Base):
    """A queued job: claimed by workers, counted by attempts."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    claimed_by: Mapped[int | None]
    attempts: Mapped[int] = mapped_column(default=0)


class Document(SoftDeleteMixin, VersionMixin, TimestampMixin, Base):
    """Every managed column at once: soft delete, optimistic version, timestamps."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(50), unique=True)
    title: Mapped[str] = mapped_column(String(100))
    views: Mapped[int] = mapped_column(default=0)
