"""`AsyncRepository[T]`: every data-access method for one model, composed from mixins."""

from __future__ import annotations

from orm_repositories.aggregate import AggregateMixin
from orm_repositories.base import ModelT
from orm_repositories.bulk import BulkMixin
from orm_repositories.cloning import CloneMixin
from orm_repositories.counters import CounterMixin
from orm_repositories.get_or_create import GetOrCreateMixin
from orm_repositories.keyset import KeysetMixin
from orm_repositories.locking import LockingMixin
from orm_repositories.sampling import SamplingMixin
from orm_repositories.soft_delete import SoftDeleteScopeMixin
from orm_repositories.streaming import StreamingMixin
from orm_repositories.upsert import UpsertMixin


class AsyncRepository(
    GetOrCreateMixin[ModelT],
    BulkMixin[ModelT],
    SoftDeleteScopeMixin[ModelT],
    KeysetMixin[ModelT],
    SamplingMixin[ModelT],
    StreamingMixin[ModelT],
    AggregateMixin[ModelT],
    UpsertMixin[ModelT],
    CounterMixin[ModelT],
    LockingMixin[ModelT],
    CloneMixin[ModelT],
):
    """Data access for one model; the model comes from the type argument.

    Example:
        class ProductRepository(AsyncRepository[Product]):
            async def cheapest(self, n: int) -> list[Product]:
                return await self.list(order_by="price", limit=n)

        products = ProductRepository(session)
        widget = await products.create(sku="A-1", name="Widget", price=Decimal("9.99"))
    """
