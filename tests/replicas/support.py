"""Small helpers the replica tests share: write a row, look for it, and say who answered."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, text

from orm_core import Database, UnitOfWork
from tests.replicas.models import Item


def unique(prefix: str = "item") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def write_item(db: Database, name: str) -> str | None:
    """Commit one row in a unit of work; return the unit's consistency token."""
    async with UnitOfWork(db) as uow:
        uow.session.add(Item(name=name))
    return uow.consistency_token


async def look(db: Database, name: str, **options: Any) -> tuple[bool, int | None]:
    """Whether a read-only unit sees the row, and which replica answered (None: primary)."""
    async with UnitOfWork(db, read_only=True, **options) as uow:
        count = await uow.session.scalar(
            select(func.count()).select_from(Item).where(Item.name == name)
        )
        return bool(count), uow.replica_index


async def server_port(uow: UnitOfWork) -> int:
    """The port of the server the unit of work's session talks to."""
    return int(await uow.session.scalar(text("SELECT inet_server_port()")))
