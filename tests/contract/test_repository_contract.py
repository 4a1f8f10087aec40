"""Black-box checks of AsyncRepository against the public contract."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import String, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from orm_core import (
    ConcurrentModificationError,
    CursorPage,
    InvalidQueryError,
    NotFoundError,
    Page,
    UnitOfWork,
)
from orm_repositories import AsyncRepository
from tests.contract.models import Gadget, Memo, Seat, Wallet


class GadgetRepository(AsyncRepository[Gadget]):
    async def cheapest(self, n: int) -> list[Gadget]:
        return await self.list(order_by="price", limit=n)


class SmallPages(AsyncRepository[Gadget]):
    max_page_size = 5


class MemoRepository(AsyncRepository[Memo]):
    pass


class ContractUoW(UnitOfWork):
    gadgets: GadgetRepository
    memos: MemoRepository
    seats: AsyncRepository[Seat]
    wallets: AsyncRepository[Wallet]


def gadget(n: int, **extra: object) -> dict[str, object]:
    return {"sku": f"G-{n:03d}", "name": f"Gadget {n}", "price": Decimal(n), **extra}


async def seed(database, n: int, **extra: object) -> None:
    async with ContractUoW(database) as uow:
        await uow.gadgets.bulk_create([gadget(i, **extra) for i in range(1, n + 1)])


# --- construction -------------------------------------------------------------------------


async def test_repository_takes_its_model_from_the_type_argument(database):
    async with database.session() as session:
        repo = GadgetRepository(session)
        assert repo.model is Gadget and repo.session is session
        direct = AsyncRepository[Gadget](session)
        assert direct.model is Gadget
        created = await direct.create(**gadget(1))
        assert (await repo.cheapest(1))[0] is created
        await session.commit()


async def test_with_deleted_and_only_deleted_return_the_same_class(database):
    async with ContractUoW(database) as uow:
        a = await uow.memos.create(title="a")
        b = await uow.memos.create(title="b")
        assert await uow.memos.soft_delete(b.id) is True
        wide, narrow = uow.memos.with_deleted(), uow.memos.only_deleted()
        assert type(wide) is MemoRepository and type(narrow) is MemoRepository
        assert wide.session is uow.session
        assert {m.title for m in await wide.list()} == {"a", "b"}
        assert [m.title for m in await narrow.list()] == ["b"]
        assert [m.title for m in await uow.memos.list()] == ["a"]
        assert await uow.memos.count() == 1 and await wide.count() == 2
        assert await uow.memos.exists(id=b.id) is False
        assert await uow.memos.restore(b.id) is True
        assert await uow.memos.count() == 2
        assert await uow.memos.soft_delete(9999) is False
        assert await uow.memos.delete(a.id) is True  # hard delete
        assert await wide.get(a.id) is None


async def test_delete_removes_a_soft_deleted_row_too(database):
    async with ContractUoW(database) as uow:
        m = await uow.memos.create(title="x")
        await uow.memos.soft_delete(m.id)
        assert await uow.memos.delete(m.id) is True
        assert await uow.memos.with_deleted().get(m.id) is None
        assert await uow.memos.delete(m.id) is False


# --- reading ------------------------------------------------------------------------------


async def test_get_get_one_and_not_found_details(database):
    await seed(database, 2)
    async with ContractUoW(database) as uow:
        assert (await uow.gadgets.get(1)).sku == "G-001"
        assert await uow.gadgets.get(99) is None
        assert (await uow.gadgets.get_one(2)).sku == "G-002"
        with pytest.raises(NotFoundError) as info:
            await uow.gadgets.get_one(99)
        assert info.value.details["model"] == "Gadget"
        assert "filters" in info.value.details
        assert isinstance(info.value, LookupError)


async def test_composite_keys_are_tuples_everywhere(database):
    async with ContractUoW(database) as uow:
        await uow.seats.add_many([Seat(row=1, number=1), Seat(row=1, number=2, holder="ann")])
    async with ContractUoW(database) as uow:
        assert (await uow.seats.get((1, 2))).holder == "ann"
        assert await uow.seats.get((2, 2)) is None
        many = await uow.seats.get_many([(1, 2), (9, 9), (1, 1)], preserve_order=True)
        assert [(s.row, s.number) for s in many] == [(1, 2), (1, 1)]
        assert await uow.seats.exists_many([(1, 1), (3, 3)]) == {(1, 1): True, (3, 3): False}
        assert (await uow.seats.update((1, 1), holder="bo")).holder == "bo"
        assert await uow.seats.delete((1, 2)) is True
        assert await uow.seats.bulk_delete([(1, 1), (7, 7)]) == 1
        with pytest.raises(NotFoundError):
            await uow.seats.get_one((5, 5))


async def test_get_many_skips_missing_and_preserves_order_on_request(database):
    await seed(database, 5)
    async with ContractUoW(database) as uow:
        got = await uow.gadgets.get_many([4, 99, 2, 5])
        assert sorted(g.id for g in got) == [2, 4, 5]
        ordered = await uow.gadgets.get_many([4, 99, 2, 5], preserve_order=True)
        assert [g.id for g in ordered] == [4, 2, 5]
        assert await uow.gadgets.get_many([]) == []


async def test_exists_and_exists_many(database):
    await seed(database, 3)
    async with ContractUoW(database) as uow:
        assert await uow.gadgets.exists(sku="G-001") is True
        assert await uow.gadgets.exists(Gadget.price > 100) is False
        result = await uow.gadgets.exists_many([1, 3, 42])
        assert result == {1: True, 3: True, 42: False}
        assert isinstance(result, dict)


async def test_count_list_first_with_lookups_expressions_and_order(database):
    await seed(database, 6)
    async with ContractUoW(database) as uow:
        repo = uow.gadgets
        assert await repo.count() == 6
        assert await repo.count(price__gt=3) == 3
        assert await repo.count(price={"gte": 5}) == 2
        assert await repo.count(Gadget.price < 3, sku__startswith="G-") == 2
        assert [g.id for g in await repo.list(order_by="-price", limit=2)] == [6, 5]
        assert [g.id for g in await repo.list(order_by="price", limit=2, offset=1)] == [2, 3]
        assert [g.id for g in await repo.list(order_by=["-stock", "-id"], limit=1)] == [6]
        assert [g.id for g in await repo.list(order_by=Gadget.price.desc(), limit=1)] == [6]
        assert (await repo.first(order_by="-price")).id == 6
        assert await repo.first(price__gt=100) is None
        assert await repo.count(id__in=[1, 2, 99]) == 2
        assert await repo.count(id__not_in=[1, 2]) == 4
        assert await repo.count(price__between=(2, 4)) == 3
        assert await repo.count(category__isnull=True) == 6
        assert await repo.count(name__icontains="gadget") == 6
        assert await repo.count(name__contains="gadget") == 0
        assert await repo.count(sku__endswith="1") == 1
        assert await repo.count(sku__ne="G-001") == 5


async def test_contains_matches_percent_and_underscore_literally(database):
    async with ContractUoW(database) as uow:
        await uow.gadgets.create(**gadget(1, name="50% off"))
        await uow.gadgets.create(**gadget(2, name="500 off"))
        await uow.gadgets.create(**gadget(3, name="a_b"))
        await uow.gadgets.create(**gadget(4, name="axb"))
        assert [g.id for g in await uow.gadgets.list(name__contains="0%")] == [1]
        assert [g.id for g in await uow.gadgets.list(name__startswith="a_")] == [3]


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        ("list", {"nope": 1}),
        ("list", {"price__near": 1}),
        ("list", {"price": {"near": 1}}),
        ("list", {"order_by": "nope"}),
        ("list", {"order_by": "-nope"}),
        ("count", {"nope__gt": 1}),
        ("exists", {"nope": 1}),
        ("first", {"order_by": "bogus"}),
        ("paginate", {"page": 0}),
        ("paginate", {"page_size": 0}),
        ("paginate", {"page_size": 1001}),
        ("paginate", {"order_by": "nope"}),
        ("list", {"price": "not a number"}),
        ("list", {"stock": "many"}),
    ],
)
async def test_invalid_queries_raise_before_any_sql(database, call, kwargs):
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    async with ContractUoW(database) as uow:
        await uow.gadgets.count()  # the transaction is open before recording
        event.listen(database.engine.sync_engine, "before_cursor_execute", record)
        try:
            with pytest.raises(InvalidQueryError) as info:
                await getattr(uow.gadgets, call)(**kwargs)
        finally:
            event.remove(database.engine.sync_engine, "before_cursor_execute", record)
    assert isinstance(info.value, ValueError)
    assert statements == []


async def test_max_page_size_is_a_class_attribute(database):
    await seed(database, 7)
    assert AsyncRepository.max_page_size == 1000
    assert SmallPages.max_page_size == 5
    async with database.session() as session:
        repo = SmallPages(session)
        assert len((await repo.paginate(page_size=5)).items) == 5
        with pytest.raises(InvalidQueryError):
            await repo.paginate(page_size=6)
        assert len((await AsyncRepository[Gadget](session).paginate(page_size=1000)).items) == 7


async def test_page_fields_and_navigation(database):
    await seed(database, 45)
    async with ContractUoW(database) as uow:
        page = await uow.gadgets.paginate(page=2, page_size=20, order_by="id")
    assert isinstance(page, Page)
    assert [g.id for g in page.items][:2] == [21, 22] and len(page.items) == 20
    assert (page.total, page.page, page.page_size, page.total_pages) == (45, 2, 20, 3)
    assert page.has_next is True and page.has_prev is True
    async with ContractUoW(database) as uow:
        last = await uow.gadgets.paginate(page=3, page_size=20, order_by="id")
        first = await uow.gadgets.paginate(page_size=20)
        beyond = await uow.gadgets.paginate(page=9, page_size=20)
        filtered = await uow.gadgets.paginate(Gadget.price <= 10, page_size=4, price__gt=0)
    assert len(last.items) == 5 and last.has_next is False and last.has_prev is True
    assert first.page == 1 and first.has_prev is False and first.has_next is True
    assert beyond.items == [] and beyond.total == 45 and beyond.has_next is False
    assert (filtered.total, filtered.total_pages) == (10, 3)


async def test_an_empty_page_has_zero_total_pages(database):
    async with ContractUoW(database) as uow:
        page = await uow.gadgets.paginate()
    assert page.items == [] and page.total == 0 and page.total_pages == 0
    assert page.has_next is False and page.has_prev is False
    assert page.page == 1 and page.page_size == 20


async def test_page_map_returns_a_page_of_mapped_items(database):
    await seed(database, 3)
    async with ContractUoW(database) as uow:
        page = await uow.gadgets.paginate(page_size=2, order_by="id")
    mapped = page.map(lambda g: g.sku)
    assert isinstance(mapped, Page)
    assert mapped.items == ["G-001", "G-002"]
    assert (mapped.total, mapped.page, mapped.page_size, mapped.total_pages) == (3, 1, 2, 2)
    assert (mapped.has_next, mapped.has_prev) == (True, False)


async def test_cursor_pages_walk_every_row_once(database):
    await seed(database, 7)
    seen: list[int] = []
    after = None
    async with ContractUoW(database) as uow:
        while True:
            page = await uow.gadgets.paginate_cursor(after=after, limit=3)
            assert isinstance(page, CursorPage)
            seen += [g.id for g in page.items]
            if not page.has_next:
                assert page.next_cursor is None
                break
            assert isinstance(page.next_cursor, str)
            after = page.next_cursor
        desc = await uow.gadgets.paginate_cursor(limit=4, order_by="-price")
        rest = await uow.gadgets.paginate_cursor(after=desc.next_cursor, limit=4, order_by="-price")
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    assert [g.id for g in desc.items + rest.items] == [7, 6, 5, 4, 3, 2, 1]
    assert rest.has_next is False and rest.next_cursor is None


async def test_tampered_cursor_is_an_invalid_query(database):
    await seed(database, 4)
    async with ContractUoW(database) as uow:
        page = await uow.gadgets.paginate_cursor(limit=2)
        cursor = page.next_cursor
        flipped = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
        for bad in (flipped, "garbage", "", cursor + "x"):
            with pytest.raises(InvalidQueryError):
                await uow.gadgets.paginate_cursor(after=bad, limit=2)
        with pytest.raises(InvalidQueryError):
            await uow.gadgets.paginate_cursor(after=cursor, limit=2, order_by="-price")


async def test_stream_yields_every_matching_row(database):
    await seed(database, 25)
    async with ContractUoW(database) as uow:
        ids = [g.id async for g in uow.gadgets.stream(batch_size=7)]
        cheap = [g.id async for g in uow.gadgets.stream(price__lte=3, batch_size=2)]
    assert sorted(ids) == list(range(1, 26)) and len(ids) == 25
    assert sorted(cheap) == [1, 2, 3]


async def test_aggregate_key_names(database):
    async with ContractUoW(database) as uow:
        await uow.gadgets.bulk_create(
            [
                gadget(1, category="a", stock=2),
                gadget(2, category="a", stock=3),
                gadget(3, category="b", stock=10),
            ]
        )
        rows = await uow.gadgets.aggregate(group_by="category", count="id", sum="stock")
        rows = sorted(rows, key=lambda r: r["category"])
        assert rows == [
            {"category": "a", "count": 2, "sum": 5},
            {"category": "b", "count": 1, "sum": 10},
        ]
        many = await uow.gadgets.aggregate(
            group_by=["category"], sum=["stock", "price"], max=["stock"], min="price"
        )
        by_cat = {r["category"]: r for r in many}
        assert set(by_cat["a"]) == {"category", "sum_stock", "sum_price", "max_stock", "min"}
        assert by_cat["a"]["sum_stock"] == 5 and by_cat["a"]["sum_price"] == Decimal(3)
        total = await uow.gadgets.aggregate(sum="stock", avg="stock")
        assert len(total) == 1 and total[0]["sum"] == 15
        assert float(total[0]["avg"]) == pytest.approx(5.0)
        with pytest.raises(InvalidQueryError):
            await uow.gadgets.aggregate(sum="nope")


async def test_random_and_sample(database):
    async with ContractUoW(database) as uow:
        assert await uow.gadgets.random() is None
        assert await uow.gadgets.sample(3) == []
    await seed(database, 5)
    async with ContractUoW(database) as uow:
        one = await uow.gadgets.random(price__gt=4)
        assert one is not None and one.id == 5
        picked = await uow.gadgets.sample(3)
        assert len(picked) == 3 and len({g.id for g in picked}) == 3
        assert len(await uow.gadgets.sample(10)) == 5
        assert [g.id for g in await uow.gadgets.sample(2, Gadget.id == 2)] == [2]


# --- writing ------------------------------------------------------------------------------


async def test_add_add_many_create_and_bulk_create(database):
    async with ContractUoW(database) as uow:
        added = await uow.gadgets.add(Gadget(**gadget(1)))
        assert isinstance(added, Gadget) and added.id is not None
        many = await uow.gadgets.add_many([Gadget(**gadget(2)), Gadget(**gadget(3))])
        assert isinstance(many, list) and all(g.id for g in many)
        created = await uow.gadgets.create(**gadget(4))
        assert created.stock == 0 and created.created_at is not None
        count = await uow.gadgets.bulk_create(gadget(i) for i in range(5, 12))
        assert count == 7
        assert await uow.gadgets.bulk_create([]) == 0
        assert await uow.gadgets.count() == 11


async def test_update_update_fields_bulk_update_and_update_where(database):
    await seed(database, 4)
    async with ContractUoW(database) as uow:
        updated = await uow.gadgets.update(1, name="one")
        assert isinstance(updated, Gadget) and updated.name == "one"
        with pytest.raises(NotFoundError):
            await uow.gadgets.update(99, name="x")
        g2 = await uow.gadgets.get_one(2)
        assert (await uow.gadgets.update_fields(g2, stock=9)).stock == 9
        assert await uow.gadgets.bulk_update([{"id": 3, "stock": 1}, {"id": 99, "stock": 1}]) == 1
        assert await uow.gadgets.update_where({"category": "x"}, Gadget.id >= 3) == 2
        assert await uow.gadgets.update_where({"category": "y"}, id=99) == 0
    async with ContractUoW(database) as uow:
        assert (await uow.gadgets.get_one(3)).stock == 1
        assert await uow.gadgets.count(category="x") == 2


async def test_delete_bulk_delete_and_delete_where(database):
    await seed(database, 6)
    async with ContractUoW(database) as uow:
        assert await uow.gadgets.delete(1) is True
        assert await uow.gadgets.delete(1) is False
        assert await uow.gadgets.bulk_delete([2, 3, 99]) == 2
        assert await uow.gadgets.delete_where(price__gte=5) == 2
        assert [g.id for g in await uow.gadgets.list()] == [4]


async def test_get_or_create_and_update_or_create_return_tuples(database):
    async with ContractUoW(database) as uow:
        g, created = await uow.gadgets.get_or_create(
            defaults={"name": "n", "price": Decimal(1)}, sku="K"
        )
        assert created is True and g.name == "n"
        again, created = await uow.gadgets.get_or_create(defaults={"name": "other"}, sku="K")
        assert created is False and again.id == g.id and again.name == "n"
        upd, created = await uow.gadgets.update_or_create(defaults={"name": "m"}, sku="K")
        assert created is False and upd.name == "m"
        new, created = await uow.gadgets.update_or_create(
            defaults={"name": "z", "price": Decimal(2)}, sku="L"
        )
        assert created is True and new.sku == "L"


async def test_upsert_inserts_then_updates(database):
    async with ContractUoW(database) as uow:
        first = await uow.gadgets.upsert(conflict_fields=["sku"], **gadget(1, stock=1))
        assert isinstance(first, Gadget) and first.stock == 1
        second = await uow.gadgets.upsert(
            conflict_fields=["sku"], **gadget(1, stock=5, name="renamed")
        )
        assert second.id == first.id and second.stock == 5 and second.name == "renamed"
        third = await uow.gadgets.upsert(
            conflict_fields=["sku"], update_fields=["stock"], **gadget(1, stock=8, name="kept?")
        )
        assert third.stock == 8 and third.name == "renamed"
    async with ContractUoW(database) as uow:
        assert await uow.gadgets.count() == 1


async def test_upsert_many_counts_rows_and_a_repeated_key_once(database):
    async with ContractUoW(database) as uow:
        n = await uow.gadgets.upsert_many(
            [gadget(1, stock=1), gadget(2, stock=2), gadget(1, stock=7)], conflict_fields=["sku"]
        )
        assert n == 2
        assert (await uow.gadgets.first(sku="G-001")).stock == 7
        n = await uow.gadgets.upsert_many(
            [gadget(2, stock=20), gadget(3, stock=3)], conflict_fields=["sku"]
        )
        assert n == 2
        assert await uow.gadgets.upsert_many([], conflict_fields=["sku"]) == 0
    async with ContractUoW(database) as uow:
        stocks = {g.sku: g.stock for g in await uow.gadgets.list()}
    assert stocks == {"G-001": 7, "G-002": 20, "G-003": 3}


async def test_increment_and_decrement_return_the_new_value_or_none(database):
    await seed(database, 1, stock=5)
    async with ContractUoW(database) as uow:
        g = await uow.gadgets.get_one(1)
        bumped = await uow.gadgets.increment(1, "stock", 3)
        assert isinstance(bumped, Gadget) and bumped.stock == 8
        assert g.stock == 8  # the identity-map copy holds the new value too
        assert (await uow.gadgets.increment(1, "view_count")).view_count == 1
        assert await uow.gadgets.increment(1, "stock", 5, max_value=10) is None
        assert (await uow.gadgets.increment(1, "stock", 2, max_value=10)).stock == 10
        assert (await uow.gadgets.decrement(1, "stock", 4)).stock == 6
        assert await uow.gadgets.decrement(1, "stock", 7, min_value=0) is None
        assert await uow.gadgets.increment(99, "stock") is None
        assert await uow.gadgets.decrement(99, "stock") is None
        with pytest.raises(InvalidQueryError):
            await uow.gadgets.increment(1, "nope")
    async with ContractUoW(database) as uow:
        assert (await uow.gadgets.get_one(1)).stock == 6


async def test_update_if_returns_a_tuple(database):
    await seed(database, 1, stock=1)
    async with ContractUoW(database) as uow:
        ok, entity = await uow.gadgets.update_if(1, {"stock__gt": 0}, stock=Gadget.stock - 1)
        assert ok is True and isinstance(entity, Gadget) and entity.stock == 0
        again = await uow.gadgets.update_if(1, {"stock__gt": 0}, stock=Gadget.stock - 1)
        assert again == (False, None)
        assert await uow.gadgets.update_if(99, {}, stock=1) == (False, None)
        ok, entity = await uow.gadgets.update_if(1, {"stock": 0}, name="empty")
        assert ok and entity.name == "empty"


async def test_update_with_lock_accepts_an_entity_from_an_earlier_unit(database):
    async with ContractUoW(database) as uow:
        w = await uow.wallets.create(owner="ann")
    async with ContractUoW(database) as uow:
        fresh = await uow.wallets.update_with_lock(w, balance=Decimal("3"))
        assert fresh.version == 2 and fresh.balance == Decimal("3")
        assert fresh in uow.session
    async with ContractUoW(database) as uow:
        with pytest.raises(ConcurrentModificationError):
            await uow.wallets.update_with_lock(w, balance=Decimal("4"))


async def test_select_for_update_lock_many_and_clone(database):
    await seed(database, 3)
    async with ContractUoW(database) as uow:
        locked = await uow.gadgets.select_for_update(2)
        assert locked is not None and locked.id == 2
        assert await uow.gadgets.select_for_update(99) is None
        rows = await uow.gadgets.lock_many([3, 1, 99])
        assert [g.id for g in rows] == [1, 3]
        copy = await uow.gadgets.clone(locked, sku="G-CLONE")
        assert copy.id != locked.id and copy.sku == "G-CLONE" and copy.name == locked.name
        bare = await uow.gadgets.clone(locked, exclude_fields=("category",), sku="G-C2")
        assert bare.id not in (locked.id, copy.id)


async def test_soft_deleted_rows_are_hidden_from_every_read(database):
    async with ContractUoW(database) as uow:
        keep = await uow.memos.create(title="keep")
        gone = await uow.memos.create(title="gone")
        await uow.memos.soft_delete(gone.id)
    async with ContractUoW(database) as uow:
        memos = uow.memos
        assert await memos.get(gone.id) is None
        assert [m.id for m in await memos.get_many([gone.id, keep.id])] == [keep.id]
        assert await memos.exists_many([gone.id, keep.id]) == {gone.id: False, keep.id: True}
        assert await memos.exists(title="gone") is False
        assert (await memos.paginate()).total == 1
        assert [m.id for m in (await memos.paginate_cursor()).items] == [keep.id]
        assert [m.id async for m in memos.stream()] == [keep.id]
        assert (await memos.aggregate(count="id"))[0]["count"] == 1
        assert [m.id for m in await memos.sample(5)] == [keep.id]
        assert (await memos.random()).id == keep.id
        assert await memos.first(title="gone") is None
        assert await memos.with_deleted().exists_many([gone.id]) == {gone.id: True}


class OtherBase(DeclarativeBase):
    pass


class Plain(OtherBase):
    __tablename__ = "contract_other_plain"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(20))


async def test_models_of_another_declarative_base_work(database):
    await database.create_all(OtherBase.metadata)
    try:
        async with UnitOfWork(database) as uow:
            repo = uow.repository(Plain)
            made = await repo.create(label="x")
            assert await repo.bulk_create([{"label": "y"}]) == 1
        async with UnitOfWork(database) as uow:
            repo = uow.repository(AsyncRepository[Plain])
            assert (await repo.get_one(made.id)).label == "x"
            assert (await repo.paginate(order_by="-label")).items[0].label == "y"
    finally:
        await database.drop_all(OtherBase.metadata)


async def test_execute_binds_parameters_instead_of_interpolating(database):
    await seed(database, 1)
    hostile = "x'; DELETE FROM contract_gadgets; --"
    changed = await database.execute(
        "UPDATE contract_gadgets SET name = :name WHERE id = :id", {"name": hostile, "id": 1}
    )
    assert changed == 1
    assert await database.fetch_one(
        "SELECT name FROM contract_gadgets WHERE id = :id", {"id": 1}
    ) == {"name": hostile}


async def test_aggregate_counts_rows_with_true_or_star_and_keys_lists(database):
    async with ContractUoW(database) as uow:
        await uow.gadgets.bulk_create(
            [gadget(1, category="a"), gadget(2, category="a"), gadget(3, category=None)]
        )
        assert await uow.gadgets.aggregate(count=True) == [{"count": 3}]
        assert await uow.gadgets.aggregate(count="*") == [{"count": 3}]
        assert await uow.gadgets.aggregate(count="category") == [{"count": 2}]
        assert await uow.gadgets.aggregate(count=["id", "category"]) == [
            {"count_id": 3, "count_category": 2}
        ]
        grouped = await uow.gadgets.aggregate(
            group_by="category", count=True, having={"count__gt": 1}
        )
        assert grouped == [{"category": "a", "count": 2}]
