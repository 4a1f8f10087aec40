"""A tour on SQLite: a model, a repository, a unit of work, and two errors."""

import asyncio
import tempfile
from decimal import Decimal
from pathlib import Path

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from orm_core import Base, Database, DuplicateError, NotFoundError, TimestampMixin, UnitOfWork
from orm_repositories import AsyncRepository


class Product(TimestampMixin, Base):
    __tablename__ = "quickstart_products"
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(50), unique=True)
    price: Mapped[Decimal]
    stock: Mapped[int] = mapped_column(default=0)


class ProductRepository(AsyncRepository[Product]):
    async def in_stock(self) -> list[Product]:
        return await self.list(stock__gt=0, order_by="-price")


class ShopUnitOfWork(UnitOfWork):
    products: ProductRepository


async def main() -> None:
    db = Database(f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'shop.db'}")
    await db.create_all(Base.metadata)
    async with ShopUnitOfWork(db) as uow:  # commits on a clean exit
        await uow.products.create(sku="A-1", price=Decimal("9.99"), stock=5)
        rows = ({"sku": f"B-{i}", "price": Decimal(i), "stock": i % 3} for i in range(1, 21))
        print("bulk-inserted:", await uow.products.bulk_create(rows))
    async with ShopUnitOfWork(db) as uow:
        print("in stock:", len(await uow.products.in_stock()))
        page = await uow.products.paginate(
            sku__startswith="B-", page=2, page_size=5, order_by="price"
        )
        print("page 2:", [p.sku for p in page.items], "of", page.total_pages, "pages")
        widget = await uow.products.update(1, price=Decimal("12.50"))
        print("updated:", widget.sku, widget.price, widget.updated_at.isoformat())
    for attempt in ({"sku": "A-1", "price": Decimal("1")}, None):
        try:
            async with ShopUnitOfWork(db) as uow:
                await (uow.products.create(**attempt) if attempt else uow.products.get_one(999))
        except (DuplicateError, NotFoundError) as exc:
            print(f"{type(exc).__name__}:", exc.message, exc.details)
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
