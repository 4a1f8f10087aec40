from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import JSON, Enum, Numeric, String, Uuid, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from orm_core import (
    NAMING_CONVENTION,
    Base,
    SoftDeleteMixin,
    TimestampMixin,
    UTCDateTime,
    VersionMixin,
    utcnow,
)
from orm_core.fields import model_info
from tests.models import Account, Note, Product


def test_the_type_map_gives_portable_column_types():
    amount = Product.__table__.c.price.type
    assert isinstance(amount, Numeric) and (amount.precision, amount.scale) == (12, 2)
    columns = Note.__table__.c
    assert isinstance(columns.token.type, Uuid)
    assert isinstance(columns.meta.type, JSON)
    assert isinstance(columns.seen_at.type, UTCDateTime) and columns.seen_at.type.impl.timezone
    assert isinstance(columns.color.type, Enum) and not columns.color.type.native_enum
    assert columns.color.type.enums == ["RED", "BLUE"]


def test_constraint_names_follow_the_naming_convention():
    assert Base.metadata.naming_convention == NAMING_CONVENTION
    names = {c.name for c in Product.__table__.constraints}
    assert {"pk_products", "uq_products_sku", "ck_products_stock_non_negative"} <= names


def test_mixins_add_their_columns():
    assert {"created_at", "updated_at"} <= set(model_info(Product).fields)
    assert "deleted_at" in model_info(Note).fields and Note.__table__.c.deleted_at.nullable
    assert Account.__mapper__.version_id_col is Account.__table__.c.version
    assert issubclass(Note, SoftDeleteMixin) and issubclass(Account, VersionMixin)
    assert issubclass(Product, TimestampMixin)


def test_models_stay_plain():
    for model in (Product, Note, Account):
        for name in ("get", "save", "delete", "query", "objects", "create", "update"):
            assert not hasattr(model, name)


def test_utcnow_is_timezone_aware_utc_with_microseconds():
    now = utcnow()
    assert now.tzinfo is UTC and now.utcoffset() == timedelta(0)


class OtherBase(DeclarativeBase):
    pass


class Foreign(OtherBase):
    __tablename__ = "foreign_models"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(10))


def test_models_of_another_declarative_base_have_field_info():
    info = model_info(Foreign)
    assert set(info.fields) == {"id", "name"} and info.primary_key[0].key == "id"


PLUS_FIVE = timezone(timedelta(hours=5))


@pytest.mark.parametrize(
    "value",
    [
        datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=UTC),
        datetime(2024, 1, 1, 17, 0, 0, 654321, tzinfo=PLUS_FIVE),
        datetime(2024, 6, 30, 23, 59, 59, 999999),
    ],
)
async def test_utc_datetime_stores_utc_and_reads_back_aware(database, value):
    async with database.session() as session:
        note = Note(title="t", seen_at=value)
        session.add(note)
        await session.commit()
        ident = note.id
    async with database.session() as session:
        got = (await session.execute(select(Note.seen_at).where(Note.id == ident))).scalar_one()
    expected = value if value.tzinfo else value.replace(tzinfo=UTC)
    assert got == expected and got.tzinfo is not None and got.utcoffset() == timedelta(0)


async def test_utc_datetime_sorts_by_instant_on_both_databases(database):
    early = datetime(2024, 1, 1, 10, tzinfo=PLUS_FIVE)  # 05:00 UTC
    late = datetime(2024, 1, 1, 6, tzinfo=UTC)
    async with database.session() as session:
        session.add_all([Note(title="late", seen_at=late), Note(title="early", seen_at=early)])
        await session.commit()
        rows = (await session.execute(select(Note.title).order_by(Note.seen_at))).scalars()
        assert list(rows) == ["early", "late"]


def test_utc_datetime_rejects_values_that_are_not_datetimes():
    with pytest.raises(TypeError):
        UTCDateTime().process_bind_param(date(2024, 1, 1), None)  # type: ignore[arg-type]


@pytest.mark.sqlite
async def test_utc_datetime_is_stored_as_naive_utc_text_on_sqlite(database):
    async with database.session() as session:
        session.add(Note(title="t", seen_at=datetime(2024, 1, 1, 17, tzinfo=PLUS_FIVE)))
        await session.commit()
        raw = (await session.execute(text("SELECT seen_at FROM notes"))).scalar_one()
    assert raw.startswith("2024-01-01 12:00:00")
