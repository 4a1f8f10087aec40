"""The shop's business errors; the application maps them onto 409."""

from __future__ import annotations


class ShopError(Exception):
    """A request the shop refuses for a business reason."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OutOfStockError(ShopError):
    """Fewer items are in stock than were ordered."""


class InsufficientFundsError(ShopError):
    """The source account cannot cover a transfer."""
