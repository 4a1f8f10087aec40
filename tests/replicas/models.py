"""The replica tests' table, on a declarative base of its own (not the shared test models)."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class ReplicaBase(DeclarativeBase):
    pass


class Item(ReplicaBase):
    __tablename__ = "replica_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
