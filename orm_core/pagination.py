"""Result pages: `Page` for offset pagination, `CursorPage` for keyset pagination."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

ItemT = TypeVar("ItemT")
OtherT = TypeVar("OtherT")


@dataclass(frozen=True, slots=True)
class Page(Generic[ItemT]):
    """One page of results with its position in the whole.

    `total` is None when the page was fetched without counting; `has_next` is then
    answered from one extra row read past the page.
    """

    items: list[ItemT]
    total: int | None
    page: int
    page_size: int
    total_pages: int | None = field(default=None)
    has_next: bool = False
    has_prev: bool = False

    @classmethod
    def build(
        cls,
        items: list[ItemT],
        *,
        total: int | None,
        page: int,
        page_size: int,
        has_next: bool | None = None,
    ) -> Page[ItemT]:
        """Derive `total_pages`, `has_next` and `has_prev` from the counts."""
        total_pages = math.ceil(total / page_size) if total is not None else None
        if has_next is None:
            has_next = total_pages is not None and page < total_pages
        return cls(
            items=items,
            total=total,
            page=page,
            page_size=page_size,
            total_pages=total_pages,
            has_next=has_next,
            has_prev=page > 1,
        )

    def map(self, fn: Callable[[ItemT], OtherT]) -> Page[OtherT]:
        """Return the same page with `fn` applied to every item."""
        return Page(
            items=[fn(item) for item in self.items],
            total=self.total,
            page=self.page,
            page_size=self.page_size,
            total_pages=self.total_pages,
            has_next=self.has_next,
            has_prev=self.has_prev,
        )


@dataclass(frozen=True, slots=True)
class CursorPage(Generic[ItemT]):
    """One keyset page: its items and the opaque cursor of the next page."""

    items: list[ItemT]
    next_cursor: str | None
    has_next: bool

    def map(self, fn: Callable[[ItemT], OtherT]) -> CursorPage[OtherT]:
        """Return the same page with `fn` applied to every item."""
        return CursorPage([fn(item) for item in self.items], self.next_cursor, self.has_next)
