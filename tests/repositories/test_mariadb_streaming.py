"""`stream` on MariaDB reads keyset pages: the driver's unbuffered cursor cannot share its
connection, so another statement during a stream would silently end it. Skipped when
MariaDB is unreachable at 127.0.0.1:3306."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func

from orm_core import InvalidQueryError
from tests.models import Product
from tests.support import ShopUoW, private_mariadb, recorded


async def _seed(db, count):
    async with ShopUoW(db) as uow:
        await uow.products.bulk_create(
            {"sku": f"S-{n}", "name": f"P{n}", "price": Decimal(n % 7), "stock": n % 4}
            for n in range(1, count + 1)
        )


async def test_other_statements_during_a_stream_leave_it_whole():
    async with private_mariadb("orm_stream", Product.__table__) as db:
        await _seed(db, 60)
        async with ShopUoW(db) as uow:
            seen = []
            async for product in uow.products.stream(batch_size=10):
                if product.id % 20 == 0:
                    assert await uow.products.count() == 60
                seen.append(product.id)
        assert seen == list(range(1, 61))


async def test_a_stream_ordered_by_a_repeated_value_yields_every_row_once_in_order():
    async with private_mariadb("orm_stream", Product.__table__) as db:
        await _seed(db, 100)
        async with ShopUoW(db) as uow:
            with recorded(db) as log:
                rows = [(p.price, p.id) async for p in uow.products.stream(
                    order_by="-price", batch_size=9, stock__in=[1, 2, 3]
                )]  # fmt: skip
            pages = [s for s in log.sql if s.startswith("SELECT") and "products" in s]
        expected = sorted(
            ((Decimal(n % 7), n) for n in range(1, 101) if n % 4),
            key=lambda row: (-row[0], row[1]),
        )
        assert rows == expected
        assert len(pages) == len(expected) // 9 + 1  # one statement a page


async def test_rows_changed_during_a_stream_are_saved_and_the_rest_detached():
    async with private_mariadb("orm_stream", Product.__table__) as db:
        await _seed(db, 40)
        async with ShopUoW(db) as uow:
            largest = 0
            async for product in uow.products.stream(batch_size=8):
                if product.id % 10 == 0:
                    product.stock = 99
                largest = max(largest, len(uow.session.identity_map))
            assert largest <= 8 + 4
        async with ShopUoW(db) as uow:
            assert [p.id for p in await uow.products.list(stock=99)] == [10, 20, 30, 40]


async def test_a_stream_ordered_by_an_expression_still_streams():
    async with private_mariadb("orm_stream", Product.__table__) as db:
        await _seed(db, 30)
        async with ShopUoW(db) as uow:
            ids = [p.id async for p in uow.products.stream(
                order_by=[func.lower(Product.name), Product.id], batch_size=7
            )]  # fmt: skip
        assert sorted(ids) == list(range(1, 31)) and len(ids) == 30


async def test_a_bad_ordering_or_batch_size_is_refused_before_any_row_on_mariadb():
    async with private_mariadb("orm_stream", Product.__table__) as db:
        await _seed(db, 5)
        async with ShopUoW(db) as uow:
            with pytest.raises(InvalidQueryError):
                [p async for p in uow.products.stream(order_by="nope")]
            with pytest.raises(InvalidQueryError):
                [p async for p in uow.products.stream(batch_size=0)]
            assert [p.id async for p in uow.products.stream(order_by="-id", batch_size=2)] == [
                5, 4, 3, 2, 1,
            ]  # fmt: skip
