"""Hostile lookup values: very long `in` lists and NUL characters.

On PostgreSQL a list of any length is one array parameter (`= ANY($1)`): no value is
ever written into the SQL text, where a NUL character would cut the server's message
short and surface as a protocol error. A NUL character in any text value is an
`InvalidQueryError` before any SQL, on every backend.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from orm_core import InvalidQueryError, UnitOfWork
from tests.models import Color, Note
from tests.support import ShopUoW, recorded

LONG = 10_001
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def long_lists(token: uuid.UUID) -> dict[str, list[object]]:
    """One list per column type, each over the inline threshold, each holding one match."""
    return {
        "id": [*range(1000, 1000 + LONG), 1],
        "title": [*(f"t{i}" for i in range(LONG)), "kept"],
        "token": [*(uuid.uuid4() for _ in range(LONG)), token],
        "due": [*(date(2000, 1, 1) + timedelta(days=i) for i in range(LONG)), date(2030, 1, 1)],
        "seen_at": [*(T0 + timedelta(seconds=i + 1) for i in range(LONG)), T0],
        "color": [Color.RED] * (LONG + 1),
    }


@pytest.fixture
async def notes(database):
    token = uuid.uuid4()
    async with UnitOfWork(database) as uow:
        notes = uow.repository(Note)
        await notes.create(
            title="kept", token=token, due=date(2030, 1, 1), seen_at=T0, color=Color.RED
        )
        await notes.create(
            title="other", due=date(1990, 1, 1), seen_at=T0 - timedelta(days=1), color=Color.BLUE
        )
    return token


@pytest.mark.parametrize("field", list(long_lists(uuid.uuid4())))
async def test_a_list_over_ten_thousand_values_matches_like_a_short_one(database, notes, field):
    values = long_lists(notes)[field]
    async with UnitOfWork(database, read_only=True) as uow:
        found = await uow.repository(Note).list(**{f"{field}__in": values})
        excluded = await uow.repository(Note).count(**{f"{field}__not_in": values})
    assert [n.title for n in found] == ["kept"]
    assert excluded == 1


@pytest.mark.postgres
@pytest.mark.parametrize("field", list(long_lists(uuid.uuid4())))
async def test_postgres_binds_a_long_list_as_one_array_parameter(database, notes, field):
    values = long_lists(notes)[field]
    async with UnitOfWork(database, read_only=True) as uow:
        with recorded(database) as log:
            await uow.repository(Note).count(**{f"{field}__in": values})
    (query,) = log.queries
    assert "= ANY ($1" in query, query[:300]
    assert len(query) < 300  # no value written into the text
    assert log.max_params == 1


@pytest.mark.parametrize(
    "lookups",
    [
        {"title__in": [*(f"v{i}" for i in range(LONG)), "a\x00b"]},
        {"title__not_in": ["a", "\x00"]},
        {"title__iexact": "a\x00"},
        {"title__between": ("a", "b\x00")},
        {"title__gte": "\x00"},
        {"color": "RED\x00"},
        {"color__in": ["RED", "BLUE\x00"]},
        {"meta__colour": "red\x00"},
        {"meta__colour__in": ["red", "\x00"]},
        {"meta__colour__icontains": "\x00"},
    ],
)
async def test_a_nul_character_in_any_text_value_is_refused_before_any_sql(database, lookups):
    async with UnitOfWork(database) as uow:
        with recorded(database) as log, pytest.raises(InvalidQueryError):
            await uow.repository(Note).count(**lookups)
    assert log.queries == []


async def test_a_nul_character_in_a_lookup_through_a_relationship_is_refused(database):
    from tests.models import BlogArticle

    async with UnitOfWork(database) as uow:
        with recorded(database) as log, pytest.raises(InvalidQueryError):
            await uow.repository(BlogArticle).count(author__username__in=["a", "b\x00"])
    assert log.queries == []


async def test_a_long_list_of_decimals_matches_on_every_backend(database):
    async with ShopUoW(database) as uow:
        await uow.products.create(sku="P", name="p", price=Decimal("9.99"))
        prices = [Decimal(i) / 100 for i in range(2000, 2000 + LONG)] + [Decimal("9.99")]
        assert await uow.products.count(price__in=prices) == 1
