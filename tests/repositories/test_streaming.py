from __future__ import annotations

from decimal import Decimal

import pytest

from orm_core import InvalidQueryError
from tests.models import Product
from tests.support import ShopUoW, recorded


async def _seed(database, count):
    async with ShopUoW(database) as uow:
        await uow.products.bulk_create(
            {"sku": f"S-{n}", "name": f"P{n}", "price": Decimal(n), "stock": n % 4}
            for n in range(1, count + 1)
        )


async def test_streams_every_matching_row_in_key_order(database):
    await _seed(database, 250)
    async with ShopUoW(database) as uow:
        ids = [p.id async for p in uow.products.stream(batch_size=16)]
        some = [p.id async for p in uow.products.stream(Product.stock == 1, batch_size=7)]
        by_lookup = [p.id async for p in uow.products.stream(stock__in=[2, 3], batch_size=1)]
        backwards = [p.id async for p in uow.products.stream(order_by="-price")]
    assert ids == list(range(1, 251))
    assert some == [n for n in range(1, 251) if n % 4 == 1]
    assert by_lookup == [n for n in range(1, 251) if n % 4 in (2, 3)]
    assert backwards == list(range(250, 0, -1))


async def test_streaming_nothing_yields_nothing(database):
    async with ShopUoW(database) as uow:
        assert [p async for p in uow.products.stream()] == []


async def test_the_session_does_not_keep_streamed_rows(database):
    await _seed(database, 300)
    async with ShopUoW(database) as uow:
        held = await uow.products.get_one(5)
        largest = 0
        async for product in uow.products.stream(batch_size=50):
            assert product.name == f"P{product.id}"
            largest = max(largest, len(uow.session.identity_map))
        assert largest <= 51 + 1
        # an object the session held before the stream stays attached
        assert held in uow.session
        assert len(uow.session.identity_map) <= 2


async def test_rows_changed_while_streaming_stay_attached_and_are_saved(database):
    await _seed(database, 40)
    async with ShopUoW(database) as uow:
        async for product in uow.products.stream(batch_size=8):
            if product.id % 10 == 0:
                product.stock = 99
    async with ShopUoW(database) as uow:
        assert [p.id for p in await uow.products.list(stock=99)] == [10, 20, 30, 40]


async def test_other_queries_may_run_on_the_session_while_streaming(database):
    await _seed(database, 60)
    async with ShopUoW(database) as uow:
        seen = 0
        async for product in uow.products.stream(batch_size=10):
            if product.id % 20 == 0:
                assert await uow.products.count() == 60
            seen += 1
    assert seen == 60


async def test_breaking_out_early_closes_the_cursor(database):
    await _seed(database, 100)
    async with ShopUoW(database) as uow:
        stream = uow.products.stream(batch_size=10)
        async for product in stream:
            if product.id == 15:
                break
        await stream.aclose()
        assert await uow.products.count() == 100
        first = [p.id async for p in uow.products.stream(batch_size=3)][:3]
    assert first == [1, 2, 3]


async def test_one_query_is_sent_for_the_whole_stream(database):
    await _seed(database, 120)
    with recorded(database) as log:
        async with ShopUoW(database) as uow:
            count = len([p async for p in uow.products.stream(batch_size=10)])
    assert count == 120
    assert len([s for s in log.sql if "FROM products" in s]) == 1


async def test_soft_deleted_rows_are_not_streamed(database):
    async with ShopUoW(database) as uow:
        for i in range(6):
            note = await uow.notes.create(title=f"n{i}")
            if i % 3 == 0:
                await uow.notes.soft_delete(note.id)
    async with ShopUoW(database) as uow:
        assert [n.title async for n in uow.notes.stream()] == ["n1", "n2", "n4", "n5"]
        assert len([n async for n in uow.notes.with_deleted().stream()]) == 6
        assert [n.title async for n in uow.notes.only_deleted().stream()] == ["n0", "n3"]


@pytest.mark.parametrize("batch_size", [0, -5, 1.5, "10", None, True])
async def test_a_bad_batch_size_is_an_invalid_query(database, batch_size):
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError):
            async for _ in uow.products.stream(batch_size=batch_size):
                pass


async def test_a_bad_filter_is_an_invalid_query(database):
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError):
            async for _ in uow.products.stream(colour="red"):
                pass
        with pytest.raises(InvalidQueryError):
            async for _ in uow.products.stream(order_by="nope"):
                pass
