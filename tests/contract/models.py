"""Models of the contract tests, declared as an application would declare its own."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from orm_core import Base, SoftDeleteMixin, TimestampMixin, VersionMixin


class Shade(enum.Enum):
    LIGHT = "light"
    DARK = "dark"


class Gadget(TimestampMixin, Base):
    __tablename__ = "contract_gadgets"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal]
    stock: Mapped[int] = mapped_column(default=0)
    view_count: Mapped[int] = mapped_column(default=0)
    category: Mapped[str | None] = mapped_column(String(50))


class GadgetOrder(Base):
    __tablename__ = "contract_gadget_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    gadget_id: Mapped[int] = mapped_column(ForeignKey("contract_gadgets.id"))
    quantity: Mapped[int] = mapped_column(default=1)


class Wallet(VersionMixin, TimestampMixin, Base):
    __tablename__ = "contract_wallets"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(100), unique=True)
    balance: Mapped[Decimal] = mapped_column(default=Decimal("0"))


class Memo(SoftDeleteMixin, TimestampMixin, Base):
    __tablename__ = "contract_memos"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    shade: Mapped[Shade] = mapped_column(default=Shade.LIGHT)
    token: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    due: Mapped[date | None]
    meta: Mapped[dict[str, Any] | None]
    seen_at: Mapped[datetime | None]


class Seat(Base):
    __tablename__ = "contract_seats"

    row: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    holder: Mapped[str] = mapped_column(String(50), default="nobody")
