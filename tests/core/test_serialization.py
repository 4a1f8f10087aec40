from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import LargeBinary
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from orm_core import InvalidQueryError, changed_fields, diff, to_dict, to_json
from tests.models import Color, Note
from tests.support import ShopUoW


class OtherBase(DeclarativeBase):
    pass


class Blob(OtherBase):
    """A model of another declarative base, never created in a database."""

    __tablename__ = "blobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    at: Mapped[time | None]
    span: Mapped[timedelta | None]


TOKEN = uuid.UUID("12345678-1234-5678-1234-567812345678")


async def _note(database):
    async with ShopUoW(database) as uow:
        return await uow.notes.create(
            title="hello",
            color=Color.BLUE,
            token=TOKEN,
            due=date(2024, 2, 29),
            meta={"tags": ["a", "b"], "n": 1},
            seen_at=datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        )


async def test_to_dict_keeps_python_values_of_every_column(database):
    note = await _note(database)
    data = to_dict(note)
    assert set(data) == {
        "id", "title", "color", "token", "due", "meta", "seen_at",
        "created_at", "updated_at", "deleted_at",
    }  # fmt: skip
    assert data["color"] is Color.BLUE and data["token"] == TOKEN
    assert data["due"] == date(2024, 2, 29) and data["deleted_at"] is None
    assert data["meta"] == {"tags": ["a", "b"], "n": 1}


async def test_include_and_exclude_pick_fields(database):
    note = await _note(database)
    assert to_dict(note, include=["title", "due"]) == {"title": "hello", "due": date(2024, 2, 29)}
    assert to_dict(note, include="title") == {"title": "hello"}
    assert "meta" not in to_dict(note, exclude={"meta", "token"})
    assert to_dict(note, include=["title", "due"], exclude=["due"]) == {"title": "hello"}


@pytest.mark.parametrize("kwargs", [{"include": ["nope"]}, {"exclude": ["nope"]}])
async def test_unknown_fields_in_include_or_exclude_are_rejected(database, kwargs):
    note = await _note(database)
    with pytest.raises(InvalidQueryError):
        to_dict(note, **kwargs)
    with pytest.raises(InvalidQueryError):
        to_json(note, **kwargs)


def test_non_entities_are_rejected():
    for thing in (object(), {"a": 1}, 3, Note):
        with pytest.raises(InvalidQueryError):
            to_dict(thing)
        with pytest.raises(InvalidQueryError):
            changed_fields(thing)


async def test_to_json_encodes_every_value_type_without_losing_precision(database):
    note = await _note(database)
    async with ShopUoW(database) as uow:
        product = await uow.products.create(sku="A", name="a", price=Decimal("1234567890.12"))
    data = json.loads(to_json(note))
    assert data["color"] == "blue" and data["token"] == str(TOKEN)
    assert data["due"] == "2024-02-29"
    assert data["seen_at"] == "2024-01-02T03:04:05.000006+00:00"
    assert data["meta"] == {"tags": ["a", "b"], "n": 1} and data["deleted_at"] is None
    assert json.loads(to_json(product))["price"] == "1234567890.12"
    assert to_json(note, include=["title"], indent=2) == '{\n  "title": "hello"\n}'


def test_bytes_time_and_timedelta_are_encoded():
    blob = Blob(id=1, data=b"\x00\xff", at=time(1, 2, 3), span=timedelta(minutes=1, seconds=30))
    assert json.loads(to_json(blob)) == {"id": 1, "data": "AP8=", "at": "01:02:03", "span": 90.0}


def test_a_transient_entity_reports_unset_columns_as_none():
    assert to_dict(Blob(data=b"x")) == {"id": None, "data": b"x", "at": None, "span": None}


async def test_expired_columns_are_left_out_rather_than_loaded(database):
    note = await _note(database)
    async with ShopUoW(database) as uow:
        loaded = await uow.notes.get_one(note.id)
        uow.session.expire(loaded, ["title"])
        assert "title" not in to_dict(loaded) and to_dict(loaded)["id"] == note.id


async def test_diff_lists_the_fields_that_differ(database):
    async with ShopUoW(database) as uow:
        a = await uow.products.create(sku="A", name="a", price=Decimal("1.00"), category="x")
        b = await uow.products.create(sku="B", name="a", price=Decimal("2.50"), category=None)
    changes = diff(a, b)
    assert changes["sku"] == {"old": "A", "new": "B"}
    assert changes["price"] == {"old": Decimal("1.00"), "new": Decimal("2.50")}
    assert changes["category"] == {"old": "x", "new": None}
    assert "name" not in changes and "stock" not in changes
    assert diff(a, a) == {}
    assert diff(a, {"name": "z", "sku": "A"})["name"] == {"old": "a", "new": "z"}


async def test_diff_of_different_models_is_rejected(database):
    note = await _note(database)
    with pytest.raises(InvalidQueryError):
        diff(note, Blob(data=b""))


async def test_changed_fields_lists_unflushed_changes_since_load(database):
    note = await _note(database)
    async with ShopUoW(database) as uow:
        loaded = await uow.notes.get_one(note.id)
        assert changed_fields(loaded) == set()
        loaded.title = "changed"
        loaded.meta = {"other": True}
        loaded.due = date(2024, 2, 29)  # set to the value it already had
        assert changed_fields(loaded) == {"title", "meta"}
        loaded.title = "hello"  # back to the loaded value
        assert changed_fields(loaded) == {"meta"}
        await uow.session.flush()
        assert changed_fields(loaded) == set()


def test_changed_fields_of_a_new_entity_are_the_fields_given():
    assert changed_fields(Blob(data=b"x", at=time(1))) == {"data", "at"}
