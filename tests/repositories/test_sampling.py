from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import delete

from orm_core import InvalidQueryError
from orm_repositories import _sampling as sampling
from tests.models import Product
from tests.support import ShopUoW, recorded


def _row(n: int, **extra):
    return {"sku": f"S-{n}", "name": f"P{n}", "price": Decimal(n), **extra}


async def _seed(database, numbers, **extra):
    async with ShopUoW(database) as uow:
        await uow.products.bulk_create(_row(n, **extra) for n in numbers)


async def _keep_only(database, ids):
    """Delete every product whose id is not in `ids` (leaving gaps in the keys)."""
    async with ShopUoW(database) as uow:
        await uow.session.execute(delete(Product).where(Product.id.not_in(ids)))


@pytest.fixture
def seeded_rng(monkeypatch):
    monkeypatch.setattr(sampling, "rng", random.Random(20240229))


async def test_samples_distinct_matching_rows(database):
    await _seed(database, range(1, 101))
    async with ShopUoW(database) as uow:
        rows = await uow.products.sample(10)
        assert len(rows) == 10
        assert len({r.id for r in rows}) == 10
        cheap = await uow.products.sample(5, Product.price < 20)
        assert len(cheap) == 5 and all(r.price < 20 for r in cheap)
        named = await uow.products.sample(3, name__in=["P1", "P2", "P3", "P4"])
        assert {r.name for r in named} <= {"P1", "P2", "P3", "P4"} and len(named) == 3


async def test_returns_every_match_when_fewer_than_n_match(database):
    await _seed(database, range(1, 9))
    async with ShopUoW(database) as uow:
        rows = await uow.products.sample(50)
        assert sorted(r.id for r in rows) == list(range(1, 9))
        few = await uow.products.sample(10, Product.id > 5)
        assert sorted(r.id for r in few) == [6, 7, 8]


async def test_an_empty_table_or_no_match_gives_nothing(database):
    async with ShopUoW(database) as uow:
        assert await uow.products.sample(3) == []
        assert await uow.products.random() is None
    await _seed(database, range(1, 5))
    async with ShopUoW(database) as uow:
        assert await uow.products.sample(3, name="nobody") == []
        assert await uow.products.random(name="nobody") is None


async def test_random_returns_one_matching_row(database):
    await _seed(database, range(1, 21))
    async with ShopUoW(database) as uow:
        row = await uow.products.random(Product.id > 15)
        assert row is not None and row.id > 15
        assert isinstance(await uow.products.random(), Product)


async def test_a_sample_of_zero_is_empty_and_runs_no_query(database):
    await _seed(database, range(1, 5))
    with recorded(database) as log:
        async with ShopUoW(database) as uow:
            assert await uow.products.sample(0) == []
    assert not [s for s in log.sql if "products" in s]


@pytest.mark.parametrize("n", [-1, -100, 1.5, "3", None, True])
async def test_a_negative_or_non_integer_n_is_an_invalid_query(database, n):
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError):
            await uow.products.sample(n)


async def test_bad_filters_are_invalid_queries(database):
    async with ShopUoW(database) as uow:
        with pytest.raises(InvalidQueryError):
            await uow.products.sample(2, colour="red")
        with pytest.raises(InvalidQueryError):
            await uow.products.random(price__gt="cheap")


async def test_soft_deleted_rows_are_never_sampled(database):
    async with ShopUoW(database) as uow:
        notes = [await uow.notes.create(title=f"n{i}") for i in range(12)]
        for note in notes[:9]:
            await uow.notes.soft_delete(note.id)
    async with ShopUoW(database) as uow:
        for _ in range(5):
            assert {n.id for n in await uow.notes.sample(5)} == {n.id for n in notes[9:]}
        assert len(await uow.notes.with_deleted().sample(12)) == 12
        assert {n.id for n in await uow.notes.only_deleted().sample(20)} == {
            n.id for n in notes[:9]
        }


async def test_a_composite_key_model_is_sampled_too(database):
    async with ShopUoW(database) as uow:
        for g in range(3):
            for u in range(4):
                await uow.memberships.create(group_id=g, user_id=u)
    async with ShopUoW(database) as uow:
        rows = await uow.memberships.sample(5, group_id=1)
        assert len(rows) == 4 and {r.group_id for r in rows} == {1}
        assert len({(r.group_id, r.user_id) for r in await uow.memberships.sample(12)}) == 12


async def test_a_sparse_filter_falls_back_and_still_finds_every_match(database):
    await _seed(database, range(1, 401))
    async with ShopUoW(database) as uow:
        rows = await uow.products.sample(5, Product.id.in_([7, 201, 399]))
        assert sorted(r.id for r in rows) == [7, 201, 399]


async def test_keys_with_large_gaps_are_sampled(database):
    await _seed(database, range(1, 301))
    await _keep_only(database, [1, 2, 150, 299, 300])
    async with ShopUoW(database) as uow:
        rows = await uow.products.sample(5)
        assert sorted(r.id for r in rows) == [1, 2, 150, 299, 300]


async def test_sampling_is_uniform_even_with_gaps_in_the_keys(database, seeded_rng):
    # Rows right after a long gap would be favoured by a naive "first id >= r" probe.
    await _seed(database, range(1, 61))
    kept = [1, 2, 3, 4, 30, 31, 32, 45, 59, 60]
    await _keep_only(database, kept)
    draws = 1500
    counts: Counter[int] = Counter()
    async with ShopUoW(database) as uow:
        for _ in range(draws // 3):
            counts.update(r.id for r in await uow.products.sample(3))
    assert set(counts) == set(kept)
    expected = draws / len(kept)
    chi_square = sum((counts[k] - expected) ** 2 / expected for k in kept)
    # 9 degrees of freedom: the 0.999 quantile is 27.9
    assert chi_square < 27.9, (chi_square, counts)
    # the row after the longest gap (30) is not over-drawn
    assert counts[30] < expected * 1.4


async def test_random_is_uniform_over_a_filtered_set(database, seeded_rng):
    await _seed(database, range(1, 41))
    await _keep_only(database, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37])
    counts: Counter[int] = Counter()
    async with ShopUoW(database) as uow:
        for _ in range(800):
            row = await uow.products.random(Product.id > 10)
            assert row is not None
            counts[row.id] += 1
    keys = [11, 13, 17, 19, 23, 29, 31, 37]
    expected = 800 / len(keys)
    chi_square = sum((counts[k] - expected) ** 2 / expected for k in keys)
    assert set(counts) == set(keys)
    assert chi_square < 24.3, (chi_square, counts)  # 7 degrees of freedom, 0.999 quantile


@pytest.mark.postgres
async def test_an_unfiltered_sample_on_postgresql_is_one_statement_without_a_sort(database):
    await _seed(database, range(1, 2001))
    with recorded(database) as log:
        async with ShopUoW(database) as uow:
            rows = await uow.products.sample(10)
    assert len(rows) == 10 and len({r.id for r in rows}) == 10
    queries = [s for s in log.sql if "products" in s]
    # the bounds, the draws and the rows they hit: one round trip, no random() sort
    assert len(queries) == 1
    assert "max(products.id)" in queries[0] and "unnest(" in queries[0]
    assert "random()" not in queries[0].lower()


@pytest.mark.postgres
async def test_a_sample_of_an_empty_table_on_postgresql_asks_for_the_bounds_once(database):
    with recorded(database) as log:
        async with ShopUoW(database) as uow:
            assert await uow.products.sample(10) == []
    queries = [s for s in log.sql if "products" in s]
    assert 2 <= len(queries) <= 3  # the draws, the bounds (nothing there), the fallback


async def test_the_bounds_are_index_endpoint_reads_not_a_table_scan(database, monkeypatch):
    # SQLite reads min() or max() of a key from the index only when the aggregate is alone
    # in its query; `SELECT min(id), max(id)` scans the whole table
    await _seed(database, range(1, 501))
    monkeypatch.setattr(sampling, "_drawn_statement", lambda target, column: None)
    with recorded(database) as log:
        async with ShopUoW(database) as uow:
            assert len(await uow.products.sample(5)) == 5
    bounds = [s for s in log.sql if "min(" in s and "products" in s]
    assert len(bounds) == 1
    async with database.engine.connect() as conn:
        if database.is_sqlite:
            plan = (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {bounds[0]}")).all()
            reads = [row[3] for row in plan if "products" in row[3]]
            assert reads and all(step.startswith("SEARCH") for step in reads), plan
        else:
            plan = (await conn.exec_driver_sql(f"EXPLAIN {bounds[0]}")).scalars().all()
            assert not any("Seq Scan" in step for step in plan), plan
