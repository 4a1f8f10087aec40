"""`AsyncRepository[T]`: every data-access method for one model, composed from mixins."""

from __future__ import annotations

from orm_repositories.base import ModelT
from orm_repositories.bulk import BulkMixin
from orm_repositories.get_or_create import GetOrCreateMixin
from orm_repositories.soft_delete import SoftDeleteScopeMixin


class AsyncRepository(
    GetOrCreateMixin[ModelT],
    BulkMixin[ModelT],
    SoftDeleteScopeMixin[ModelT],
):
    """Data access for one model; the model comes from the type argument.

    Example:
        class ProductRepository(AsyncRepository[Product]):
            async def cheapest(self, n: int) -> list[Product]:
                return await self.list(order_by="price", limit=n)

        products = ProductRepository(session)
        widget = await products.create(sku="A-1", name="Widget", price=Decimal("9.99"))
    """
