"""What every peer implements: the nine pieces of work, each as its users would write it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy.engine import URL


class Peer(ABC):
    """One library doing the workload; reads return ids so that results can be compared.

    `footnotes` maps a piece of work to how this peer does it when it has no feature of
    that name (its documented way); `read_modify_write` says its counter reads the row,
    adds one in Python and writes it back, so lost updates are expected and counted.
    """

    name: ClassVar[str]
    footnotes: ClassVar[dict[str, str]] = {}
    read_modify_write: ClassVar[bool] = False

    @abstractmethod
    async def start(self, url: URL) -> None:
        """Connect to the database at `url` (a SQLAlchemy URL), 20 pooled connections."""

    @abstractmethod
    async def stop(self) -> None:
        """Close every connection."""

    async def release(self) -> None:
        """Close the idle pooled connections (the pool opens new ones when next needed)."""
        return None

    @abstractmethod
    async def get(self, id: int) -> tuple[int, str]:
        """Read one row by primary key in its own unit of work; return (id, sku)."""

    @abstractmethod
    async def get_many(self, ids: Sequence[int]) -> list[int]:
        """Read the rows with these ids in one unit of work."""

    @abstractmethod
    async def list_filtered(self, category: str, min_price: Decimal, limit: int) -> list[int]:
        """`category = ? AND price > ?` ordered by id, first `limit` rows."""

    @abstractmethod
    async def paginate(self, category: str, page: int, size: int) -> tuple[int, list[int]]:
        """One numbered page of `category = ?` by id, with the total."""

    @abstractmethod
    async def deep_page(self, after_id: int, size: int) -> list[int]:
        """The page of `size` rows that follows row `after_id` in id order."""

    @abstractmethod
    async def sample(self, n: int) -> list[int]:
        """`n` distinct rows drawn at random."""

    @abstractmethod
    async def bulk_insert(self, rows: list[dict[str, Any]]) -> None:
        """Insert every row into the write table, all or nothing."""

    @abstractmethod
    async def upsert(self, rows: list[dict[str, Any]]) -> None:
        """Insert or update every row by its `sku`, all or nothing."""

    @abstractmethod
    async def increment(self, id: int) -> None:
        """Add one to `hits` of row `id`, in a transaction of its own."""
