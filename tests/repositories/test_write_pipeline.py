"""Every write path passes the same rules: managed values, recorded tables, held copies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import true

from orm_core import ConcurrentModificationError, UnitOfWork
from tests.models import Document
from tests.support import ShopUoW, product_row

Write = Callable[[ShopUoW, int], Awaitable[Any]]

# every UPDATE path the framework has, each applied to the document with id `ident`
UPDATE_PATHS: dict[str, Write] = {
    "update": lambda uow, ident: uow.documents.update(ident, title="changed"),
    "update_fields": lambda uow, ident: _update_fields(uow, ident),
    "update_where": lambda uow, ident: uow.documents.update_where({"title": "x"}, id=ident),
    "bulk_update": lambda uow, ident: uow.documents.bulk_update([{"id": ident, "title": "y"}]),
    "update_if": lambda uow, ident: uow.documents.update_if(ident, {"views": 0}, title="z"),
    "update_with_lock": lambda uow, ident: _update_with_lock(uow, ident),
    "increment": lambda uow, ident: uow.documents.increment(ident, "views"),
    "decrement": lambda uow, ident: uow.documents.decrement(ident, "views", 0),
    "soft_delete": lambda uow, ident: uow.documents.soft_delete(ident),
    "upsert": lambda uow, ident: uow.documents.upsert(
        conflict_fields="slug", slug="doc", title="upserted"
    ),
    "upsert_many": lambda uow, ident: uow.documents.upsert_many(
        [{"slug": "doc", "title": "many"}], conflict_fields="slug"
    ),
    "update_or_create": lambda uow, ident: uow.documents.update_or_create(
        {"title": "again"}, slug="doc"
    ),
}


async def _update_fields(uow: ShopUoW, ident: int) -> Any:
    return await uow.documents.update_fields(await uow.documents.get_one(ident), title="f")


async def _update_with_lock(uow: ShopUoW, ident: int) -> Any:
    return await uow.documents.update_with_lock(await uow.documents.get_one(ident), title="l")


async def _document(database) -> Document:
    async with ShopUoW(database) as uow:
        return await uow.documents.create(slug="doc", title="first")


async def _stored(database, ident: int) -> Document:
    async with ShopUoW(database, read_only=True) as uow:
        found = await uow.documents.with_deleted().get_one(ident)
    return found


@pytest.mark.parametrize("path", sorted(UPDATE_PATHS))
async def test_every_update_path_bumps_the_version_and_moves_updated_at(database, path):
    before = await _document(database)
    async with ShopUoW(database) as uow:
        await UPDATE_PATHS[path](uow, before.id)
    after = await _stored(database, before.id)
    assert after.version == before.version + 1
    assert after.updated_at > before.updated_at
    assert after.created_at == before.created_at


async def test_soft_delete_and_restore_each_bump_the_version(database):
    document = await _document(database)
    async with ShopUoW(database) as uow:
        assert await uow.documents.soft_delete(document.id)
    deleted = await _stored(database, document.id)
    async with ShopUoW(database) as uow:
        assert await uow.documents.restore(document.id)
    restored = await _stored(database, document.id)
    assert (document.version, deleted.version, restored.version) == (1, 2, 3)
    assert deleted.deleted_at is not None and restored.deleted_at is None


async def test_a_soft_delete_makes_a_stale_copy_fail_its_optimistic_check(database):
    document = await _document(database)
    async with ShopUoW(database) as uow:
        await uow.documents.soft_delete(document.id)
        await uow.documents.restore(document.id)
    with pytest.raises(ConcurrentModificationError):
        async with ShopUoW(database) as uow:
            await uow.documents.update_with_lock(document, title="stale")


@pytest.mark.parametrize("counter", ["increment", "decrement"])
async def test_untouched_counters_leave_updated_at_and_the_version_alone(database, counter):
    document = await _document(database)
    async with ShopUoW(database) as uow:
        changed = await getattr(uow.documents, counter)(document.id, "views", 0, touch=False)
        assert changed is not None
    after = await _stored(database, document.id)
    assert (after.version, after.updated_at) == (document.version, document.updated_at)


# every write path, and the table it must report as written
WRITE_PATHS: dict[str, tuple[str, Write]] = {
    "create": ("products", lambda uow, i: uow.products.create(**product_row(90))),
    "add": ("products", lambda uow, i: uow.products.add(uow.products.model(**product_row(91)))),
    "bulk_create": ("products", lambda uow, i: uow.products.bulk_create([product_row(92)])),
    "get_or_create": ("products", lambda uow, i: uow.products.get_or_create(
        {"name": "n", "price": 1}, sku="goc")),
    "clone": ("documents", lambda uow, i: _clone(uow, i)),
    "delete": ("documents", lambda uow, i: uow.documents.delete(i)),
    "bulk_delete": ("documents", lambda uow, i: uow.documents.bulk_delete([i])),
    "delete_where": ("documents", lambda uow, i: uow.documents.delete_where(id=i)),
    "update_where_everything": ("documents", lambda uow, i: uow.documents.update_where(
        {"views": 3}, true())),
    "restore": ("documents", lambda uow, i: uow.documents.restore(i)),
    **{name: ("documents", write) for name, write in UPDATE_PATHS.items()},
}  # fmt: skip


async def _clone(uow: ShopUoW, ident: int) -> Any:
    return await uow.documents.clone(await uow.documents.get_one(ident), slug="copy")


@pytest.mark.parametrize("path", sorted(WRITE_PATHS))
async def test_every_write_path_records_the_table_it_wrote(database, path):
    document = await _document(database)
    table, write = WRITE_PATHS[path]
    async with ShopUoW(database) as uow:
        assert uow.written_tables == frozenset()
        await write(uow, document.id)
        assert table in uow.written_tables
        await uow.commit()
        assert uow.written_tables == frozenset()


async def test_reads_record_no_written_table(database):
    document = await _document(database)
    async with ShopUoW(database) as uow:
        await uow.documents.get(document.id)
        await uow.documents.list(title="first")
        await uow.documents.count()
        await uow.documents.select_for_update(document.id)
        assert uow.written_tables == frozenset()


async def test_a_rollback_forgets_the_written_tables(database):
    async with ShopUoW(database) as uow:
        await uow.products.create(**product_row(1))
        assert uow.written_tables == {"products"}
        await uow.rollback()
        assert uow.written_tables == frozenset()


async def test_written_tables_is_empty_outside_the_block(database):
    uow = UnitOfWork(database)
    assert uow.written_tables == frozenset()
