from __future__ import annotations

from decimal import Decimal

import pytest

from orm_core import InvalidQueryError, NotFoundError, UnitOfWork
from orm_repositories import AsyncRepository
from tests.models import Note, Product


class NoteRepository(AsyncRepository[Note]):
    async def titled(self, title: str) -> list[Note]:
        return await self.list(title=title)


class UoW(UnitOfWork):
    """Annotates a custom repository, so soft deletion is checked through its own methods."""

    notes: NoteRepository
    products: AsyncRepository[Product]


@pytest.fixture
async def notes(database):
    """Six notes; the odd ones (n1, n3, n5) soft-deleted. Returns {title: id}."""
    async with UoW(database) as uow:
        made = [await uow.notes.create(title=f"n{i}") for i in range(6)]
    async with UoW(database) as uow:
        for note in made[1::2]:
            assert await uow.notes.soft_delete(note.id) is True
    return {n.title: n.id for n in made}


ALIVE = ["n0", "n2", "n4"]
DEAD = ["n1", "n3", "n5"]


async def _titles_by_every_read(repo, ids):
    """What each read method sees, as sorted titles (or counts)."""
    all_ids = list(ids.values())

    async def titles_where(check):
        return sorted([t for t, i in ids.items() if await check(t, i)])

    async def got_one(title, ident):
        try:
            return (await repo.get_one(ident)).title == title
        except NotFoundError:
            return False

    present = await repo.exists_many(all_ids)
    found = {
        "get": await titles_where(lambda t, i: _is_found(repo.get(i))),
        "get_one": await titles_where(got_one),
        "get_many": sorted(n.title for n in await repo.get_many(all_ids)),
        "exists": await titles_where(lambda t, i: repo.exists(id=i)),
        "exists_many": await titles_where(lambda t, i: _true(present[i])),
        "count": await repo.count(),
        "list": sorted(n.title for n in await repo.list()),
        "first": await titles_where(lambda t, i: _is_found(repo.first(title=t))),
        "paginate": sorted(n.title for n in (await repo.paginate(page_size=50)).items),
        "paginate_total": (await repo.paginate(page_size=50)).total,
        "sample": sorted(n.title for n in await repo.sample(10)),
        "random": await titles_where(lambda t, i: _is_found(repo.random(title=t))),
        "stream": sorted([n.title async for n in repo.stream(batch_size=2)]),
        "aggregate": [r["title"] for r in await repo.aggregate(group_by="title", count=True)],
        "paginate_cursor": sorted(n.title for n in (await repo.paginate_cursor(limit=50)).items),
        "custom": await titles_where(lambda t, i: repo.titled(t)),
    }
    return found


async def _is_found(awaitable):
    return (await awaitable) is not None


async def _true(value):
    return value


def _expected(titles):
    expected = {
        name: sorted(titles)
        for name in (
            "get", "get_one", "get_many", "exists", "exists_many", "list", "first",
            "paginate", "sample", "random", "stream", "aggregate", "paginate_cursor", "custom",
        )
    }  # fmt: skip
    expected["count"] = expected["paginate_total"] = len(titles)
    return expected


async def test_every_read_excludes_soft_deleted_rows_by_default(database, notes):
    async with UoW(database) as uow:
        assert await _titles_by_every_read(uow.notes, notes) == _expected(ALIVE)


async def test_with_deleted_sees_every_row_in_every_read(database, notes):
    async with UoW(database) as uow:
        assert await _titles_by_every_read(uow.notes.with_deleted(), notes) == _expected(
            ALIVE + DEAD
        )


async def test_only_deleted_sees_only_deleted_rows_in_every_read(database, notes):
    async with UoW(database) as uow:
        assert await _titles_by_every_read(uow.notes.only_deleted(), notes) == _expected(DEAD)


async def test_reads_exclude_a_row_soft_deleted_in_the_same_session(database):
    async with UoW(database) as uow:
        note = await uow.notes.create(title="x")
        assert await uow.notes.get(note.id) is note
        assert await uow.notes.soft_delete(note.id) is True
        assert note.deleted_at is not None  # the session's copy is kept in step
        assert await uow.notes.get(note.id) is None
        assert await uow.notes.exists_many([note.id]) == {note.id: False}
        assert await uow.notes.with_deleted().get(note.id) is note


async def test_scoped_views_keep_the_repository_class_and_session(database, notes):
    async with UoW(database) as uow:
        wider, narrower = uow.notes.with_deleted(), uow.notes.only_deleted()
        assert type(wider) is NoteRepository and type(narrower) is NoteRepository
        assert wider.session is uow.session and narrower.session is uow.session
        assert await uow.notes.count() == 3  # the original keeps its scope
        assert await narrower.with_deleted().count() == 6


async def test_soft_delete_and_restore_report_whether_anything_changed(database, notes):
    async with UoW(database) as uow:
        assert await uow.notes.soft_delete(notes["n1"]) is False  # already deleted
        assert await uow.notes.soft_delete(999) is False
        assert await uow.notes.restore(notes["n0"]) is False  # not deleted
        assert await uow.notes.restore(999) is False
        assert await uow.notes.restore(notes["n1"]) is True
        assert await uow.notes.restore(notes["n1"]) is False
    async with UoW(database) as uow:
        assert sorted(n.title for n in await uow.notes.list()) == ["n0", "n1", "n2", "n4"]


async def test_soft_delete_refreshes_updated_at(database):
    async with UoW(database) as uow:
        note = await uow.notes.create(title="x")
        before = note.updated_at
    async with UoW(database) as uow:
        await uow.notes.soft_delete(note.id)
    async with UoW(database) as uow:
        again = await uow.notes.with_deleted().get_one(note.id)
        assert again.deleted_at is not None and again.updated_at > before
        assert again.deleted_at.tzinfo is not None


async def test_delete_stays_a_hard_delete_even_for_soft_deleted_rows(database, notes):
    async with UoW(database) as uow:
        assert await uow.notes.delete(notes["n0"]) is True
        assert await uow.notes.delete(notes["n1"]) is True
    async with UoW(database) as uow:
        assert await uow.notes.with_deleted().count() == 4
        assert await uow.notes.with_deleted().get(notes["n1"]) is None


async def test_get_one_of_a_soft_deleted_row_is_not_found(database, notes):
    async with UoW(database) as uow:
        with pytest.raises(NotFoundError):
            await uow.notes.get_one(notes["n1"])


async def test_a_model_without_soft_delete_cannot_be_soft_deleted(database):
    async with UoW(database) as uow:
        product = await uow.products.create(sku="A", name="a", price=Decimal("1"))
        with pytest.raises(InvalidQueryError):
            await uow.products.soft_delete(product.id)
        with pytest.raises(InvalidQueryError):
            await uow.products.restore(product.id)
        # scopes are no-ops on such a model
        assert await uow.products.only_deleted().count() == 1


@pytest.mark.parametrize("bad", [None, "x", (1, 2), [1]])
async def test_soft_delete_checks_the_id(database, bad):
    async with UoW(database) as uow:
        with pytest.raises(InvalidQueryError):
            await uow.notes.soft_delete(bad)
