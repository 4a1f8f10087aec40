"""Tenants: every repository method, under tenant A, leaves tenant B's rows untouched and unseen."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from sqlalchemy import select, text, true

from orm_core import (
    ALL_TENANTS,
    ConcurrentModificationError,
    DuplicateError,
    InvalidQueryError,
    NotFoundError,
    TenantRequiredError,
    UnitOfWork,
)
from orm_repositories import AsyncRepository
from tests.models import TenantItem, TenantLabel, TenantPart, tenant_item_labels
from tests.support import ShopUoW


async def seed(database) -> dict[str, Any]:
    """Tenant b: two items with parts and a label; tenant a: one item and one label."""
    async with ShopUoW(database, tenant="b") as uow:
        x1 = await uow.items.create(sku="x1", name="B one", qty=5, meta={"k": 1})
        x2 = await uow.items.create(sku="x2", name="B two", qty=7)
        label = await uow.labels.create(name="b-label")
        await uow.items.link(x1, "labels", [label])
        await uow.parts.create(item_id=x1.id, name="b-part")
    async with ShopUoW(database, tenant="a") as uow:
        a1 = await uow.items.create(sku="a1", name="A one", qty=1)
        a_label = await uow.labels.create(name="a-label")
    return {"x1": x1, "x2": x2, "b_label": label, "a1": a1, "a_label": a_label}


async def snapshot(database) -> list[tuple[Any, ...]]:
    """Every row of tenant b, as stored."""
    async with ShopUoW(database, tenant=ALL_TENANTS, read_only=True) as uow:
        rows = []
        for table in ("tenant_items", "tenant_labels", "tenant_parts", "tenant_item_labels"):
            result = await uow.session.execute(
                text(f"SELECT * FROM {table} WHERE tenant_id = 'b' ORDER BY 1, 2")
            )
            rows += [(table, *row) for row in result.all()]
        return rows


def b_ids(seeded) -> list[int]:
    return [seeded["x1"].id, seeded["x2"].id]


async def _stream(repo) -> list[Any]:
    return [item async for item in repo.stream()]


async def _raises(awaitable, error) -> str:
    with pytest.raises(error):
        await awaitable
    return "refused"


# Each public method, called under tenant "a" with tenant "b"'s ids and values. The result
# is checked to hold nothing of tenant b; b's rows are checked afterwards.
CALLS: dict[str, Any] = {
    "get": lambda r, s: r.get(s["x1"].id),
    "get_one": lambda r, s: _raises(r.get_one(s["x1"].id), NotFoundError),
    "get_many": lambda r, s: r.get_many(b_ids(s)),
    "exists": lambda r, s: r.exists(sku="x1"),
    "exists_many": lambda r, s: r.exists_many(b_ids(s)),
    "count": lambda r, s: r.count(sku__in=["x1", "x2"]),
    "list": lambda r, s: r.list(),
    "first": lambda r, s: r.first(sku="x1"),
    "list_and_count": lambda r, s: r.list_and_count(),
    "paginate": lambda r, s: r.paginate(),
    "paginate_cursor": lambda r, s: r.paginate_cursor(),
    "stream": lambda r, s: _stream(r),
    "aggregate": lambda r, s: r.aggregate(count=True, sum="qty"),
    "random": lambda r, s: r.random(sku="x1"),
    "sample": lambda r, s: r.sample(10),
    "count_related": lambda r, s: r.count_related(b_ids(s), "labels"),
    "refresh": lambda r, s: _raises(r.refresh(s["x1"]), NotFoundError),
    "history": lambda r, s: r.history(s["x1"].id),
    "search": lambda r, s: r.search("B", fields=["name"]),
    "search_highlights": lambda r, s: r.search_highlights("B", fields=["name"]),
    "select_for_update": lambda r, s: r.select_for_update(s["x1"].id),
    "lock_many": lambda r, s: r.lock_many(b_ids(s)),
    "add": lambda r, s: r.add(TenantItem(sku="x1", name="A's own x1")),
    "add_many": lambda r, s: r.add_many([TenantItem(sku="x2", name="A's own x2")]),
    "create": lambda r, s: r.create(sku="x1", name="A's own x1"),
    "bulk_create": lambda r, s: r.bulk_create([{"sku": "x1", "name": "A's own"}]),
    "update": lambda r, s: _raises(r.update(s["x1"].id, qty=99), NotFoundError),
    "update_fields": lambda r, s: _raises(r.update_fields(s["x1"], qty=99), NotFoundError),
    "bulk_update": lambda r, s: r.bulk_update([{"id": s["x1"].id, "qty": 99}]),
    "update_where": lambda r, s: r.update_where({"qty": 99}, true()),
    "delete": lambda r, s: r.delete(s["x1"].id),
    "bulk_delete": lambda r, s: r.bulk_delete(b_ids(s)),
    "delete_where": lambda r, s: r.delete_where(sku__in=["x1", "x2"]),
    "get_or_create": lambda r, s: r.get_or_create({"name": "A's own"}, sku="x1"),
    "update_or_create": lambda r, s: r.update_or_create({"name": "A's own"}, sku="x2"),
    "upsert": lambda r, s: _raises(
        r.upsert(conflict_fields="id", id=s["x1"].id, sku="zz", name="taken"), DuplicateError
    ),
    "upsert_many": lambda r, s: _raises(
        r.upsert_many([{"id": s["x2"].id, "sku": "zz", "name": "t"}], conflict_fields="id"),
        DuplicateError,
    ),
    "increment": lambda r, s: r.increment(s["x1"].id, "qty"),
    "decrement": lambda r, s: r.decrement(s["x1"].id, "qty"),
    "update_if": lambda r, s: r.update_if(s["x1"].id, {"qty": 5}, qty=0),
    "update_with_lock": lambda r, s: _raises(
        r.update_with_lock(s["x1"], qty=0), ConcurrentModificationError
    ),
    "clone": lambda r, s: _raises(r.clone(s["x1"]), InvalidQueryError),
    "link": lambda r, s: _raises(r.link(s["x2"].id, "labels", [s["b_label"].id]), NotFoundError),
    "unlink": lambda r, s: _raises(
        r.unlink(s["x1"].id, "labels", [s["b_label"].id]), NotFoundError
    ),
    "soft_delete": lambda r, s: r.soft_delete(s["x1"].id),
    "restore": lambda r, s: r.restore(s["x2"].id),
    "with_deleted": lambda r, s: r.with_deleted().list(),
    "cached": lambda r, s: r.cached().list(),
    "only_deleted": lambda r, s: r.only_deleted().list(),
    "for_model": lambda r, s: r.for_model(TenantItem)(r.session).list(),
}


def test_the_isolation_test_covers_every_public_repository_method():
    public = {
        name
        for name, member in inspect.getmembers(AsyncRepository)
        if not name.startswith("_") and callable(member) and name not in ("model",)
    }
    assert public == set(CALLS), (public - set(CALLS), set(CALLS) - public)


def _holds_nothing_of_b(result: Any, b_keys: set[int]) -> None:
    """No entity of tenant b, and no key of b, in whatever a method returned."""
    if isinstance(result, TenantItem | TenantLabel | TenantPart):
        assert result.tenant_id == "a"
    elif isinstance(result, dict):
        for key, value in result.items():
            if key in b_keys:
                assert value in (0, False, None), result
            _holds_nothing_of_b(value, b_keys)
    elif isinstance(result, list | tuple):
        for item in result:
            _holds_nothing_of_b(item, b_keys)
    elif hasattr(result, "items") and hasattr(result, "has_next"):
        _holds_nothing_of_b(result.items, b_keys)


@pytest.mark.parametrize("method", sorted(CALLS))
async def test_a_tenant_never_reads_counts_changes_locks_or_deletes_another_tenants_rows(
    database, method
):
    seeded = await seed(database)
    before = await snapshot(database)
    async with ShopUoW(database, tenant="a") as uow:
        result = await CALLS[method](uow.items, seeded)
        _holds_nothing_of_b(result, set(b_ids(seeded)))
        if method in ("count", "exists"):
            assert result in (0, False)
        if not database.is_sqlite:  # nothing of b is locked while a's unit is open
            async with ShopUoW(database, tenant="b") as other:
                locked = await other.items.lock_many(b_ids(seeded), nowait=True)
                assert len(locked) == 2
    assert await snapshot(database) == before


async def test_a_unit_without_a_tenant_refuses_tenant_models_at_the_first_statement(database):
    await seed(database)
    async with ShopUoW(database) as uow:
        with pytest.raises(TenantRequiredError):
            await uow.items.list()
        with pytest.raises(TenantRequiredError):
            await uow.items.create(sku="s", name="n")
        with pytest.raises(TenantRequiredError):
            await uow.session.execute(select(TenantItem))
        assert await uow.products.count() == 0  # other models work as usual
    async with database.session() as session:
        with pytest.raises(TenantRequiredError):
            await AsyncRepository[TenantItem](session).list()


async def test_all_tenants_sees_every_row_and_inserts_must_name_theirs(database):
    await seed(database)
    async with ShopUoW(database, tenant=ALL_TENANTS) as uow:
        assert await uow.items.count() == 3
        with pytest.raises(InvalidQueryError):
            await uow.items.create(sku="n", name="no tenant")
        made = await uow.items.create(sku="n", name="named", tenant_id="c")
        assert made.tenant_id == "c"


async def test_every_orm_statement_of_the_session_is_scoped_loads_and_lookups_included(database):
    seeded = await seed(database)
    async with ShopUoW(database, tenant="b") as uow:
        await uow.parts.create(item_id=seeded["x1"].id, name="b-second")
    async with ShopUoW(database, tenant="a") as uow:
        own = (await uow.session.execute(select(TenantItem))).scalars().all()
        assert [i.sku for i in own] == ["a1"]
        assert await uow.items.list(parts__name="b-part") == []
        assert await uow.items.list(labels__name="b-label") == []
        assert await uow.items.count(tenant_id="b") == 0  # a lookup naming another tenant
        item = await uow.items.get(seeded["a1"].id, load=["labels", "parts"])
        assert item.labels == [] and item.parts == []


async def test_a_tenant_id_to_be_written_must_be_the_units(database):
    seeded = await seed(database)
    async with ShopUoW(database, tenant="a") as uow:
        for write in (
            uow.items.create(sku="s", name="n", tenant_id="b"),
            uow.items.update(seeded["a1"].id, tenant_id="b"),
            uow.items.update_where({"tenant_id": "b"}, true()),
            uow.items.bulk_create([{"sku": "s", "name": "n", "tenant_id": "b"}]),
            uow.items.upsert(conflict_fields=["tenant_id", "sku"], sku="s", name="n",
                             tenant_id="b"),
        ):  # fmt: skip
            with pytest.raises(InvalidQueryError):
                await write


async def test_unique_keys_per_tenant_work_with_upserts(database):
    await seed(database)
    async with ShopUoW(database, tenant="a") as uow:
        made = await uow.items.upsert(conflict_fields=["tenant_id", "sku"], sku="x1", name="A x1")
        again = await uow.items.upsert(conflict_fields=["tenant_id", "sku"], sku="x1", name="A2")
        assert made.id == again.id and again.name == "A2" and again.tenant_id == "a"
        count = await uow.items.upsert_many(
            [{"sku": "x1", "name": "A3"}, {"sku": "x9", "name": "new"}],
            conflict_fields=["tenant_id", "sku"],
        )
        assert count == 2
    async with ShopUoW(database, tenant="b") as uow:
        assert (await uow.items.first(sku="x1")).name == "B one"


async def test_links_stamp_the_tenant_on_association_rows(database):
    seeded = await seed(database)
    async with ShopUoW(database, tenant="a") as uow:
        assert await uow.items.link(seeded["a1"].id, "labels", [seeded["a_label"].id]) == 1
        rows = (await uow.session.execute(select(tenant_item_labels))).all()
    assert {row.tenant_id for row in rows} == {"a", "b"}


@pytest.mark.postgres
async def test_schema_per_tenant_runs_every_statement_in_the_tenants_schema(database):
    from tests.models import Product

    await database.create_all(Product.metadata, schema="acme")
    try:
        async with UnitOfWork(database, schema="acme") as uow:
            repo = uow.repository(AsyncRepository[Product])
            await repo.create(sku="A-1", name="Acme", price=1)
            await repo.bulk_create([{"sku": f"B-{n}", "name": "b", "price": 1} for n in range(3)])
            assert await repo.count() == 4
        async with UnitOfWork(database) as uow:
            assert await uow.repository(AsyncRepository[Product]).count() == 0
        rows = await database.fetch_all('SELECT count(*) AS n FROM "acme".products')
        assert rows == [{"n": 4}]
    finally:
        await database.execute('DROP SCHEMA "acme" CASCADE')


@pytest.mark.parametrize(
    "options",
    [{"tenant": ""}, {"tenant": "x" * 65}, {"tenant": "a\x00b"}, {"tenant": 7},
     {"actor": "x" * 256}, {"actor": "a\x00"}, {"actor": 3}],
)  # fmt: skip
def test_a_bad_tenant_or_actor_is_refused_when_the_unit_is_made(database, options):
    with pytest.raises(InvalidQueryError):
        ShopUoW(database, **options)


async def test_counters_work_for_each_tenant_in_turn(database):
    for tenant in ("t1", "t2", "t3"):
        async with ShopUoW(database, tenant=tenant) as uow:
            item = await uow.items.create(sku="c", name="n")
            assert (await uow.items.increment(item.id, "qty")).qty == 1
            assert (await uow.items.decrement(item.id, "qty", min_value=0)).qty == 0
    async with ShopUoW(database, tenant=ALL_TENANTS) as uow:
        assert await uow.items.increment(1, "qty") is not None  # and across tenants


async def test_single_row_updates_built_for_one_tenant_never_reach_another_tenants_row(database):
    """Each write below is prepared once and reused: the tenant is bound per call."""
    seeded = await seed(database)
    writes = {
        "update": lambda r, id: r.update(id, qty=3),
        "update_if": lambda r, id: r.update_if(id, {"qty__gte": 0}, qty=4),
        "increment": lambda r, id: r.increment(id, "qty"),
        "soft_delete": lambda r, id: r.soft_delete(id),
    }
    for name, write in writes.items():
        async with ShopUoW(database, tenant="b") as uow:  # b's own row: prepares the statement
            assert await write(uow.items, seeded["x2"].id) not in (None, False, (False, None))
            await uow.items.restore(seeded["x2"].id)
        before = await snapshot(database)
        async with ShopUoW(database, tenant="a") as uow:
            if name == "update":
                await _raises(write(uow.items, seeded["x1"].id), NotFoundError)
            else:
                assert await write(uow.items, seeded["x1"].id) in (None, False, (False, None))
        assert await snapshot(database) == before, name
