"""Replica configuration and consistency tokens, checked before any SQL (no server needed)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from orm_core import Database, InvalidQueryError, UnitOfWork
from orm_core.consistency import format_lsn, page_start, parse_lsn
from orm_core.settings import database_from_settings, settings_from_env

# nothing listens here: anything that tried to connect would fail with another error
NOWHERE = "postgresql+asyncpg://postgres@127.0.0.1:9/none"


@pytest.fixture
async def offline():
    db = Database(NOWHERE, replicas=[NOWHERE.replace(":9/", ":7/")])
    yield db
    await db.dispose()


@pytest.mark.parametrize(
    "token",
    ["", "abc", "0/", "/1", "1/2/3", "G/1", "0/123456789", " 0/1", "0/1 ", "0x1/0", 1, 1.5, b"0/1"],
)
def test_a_malformed_token_is_an_invalid_query_error_before_sql(offline, token):
    with pytest.raises(InvalidQueryError, match="consistency token"):
        UnitOfWork(offline, read_only=True, after=token)


def test_a_writer_ignores_replica_and_after(offline):
    uow = UnitOfWork(offline, replica=False, after="not a token")
    assert uow.consistency_token is None


@pytest.mark.parametrize("token", ["0/0", "0/3016038", "FFFFFFFF/FFFFFFFF", "a/b"])
def test_well_formed_tokens_are_accepted_and_round_trip(offline, token):
    UnitOfWork(offline, read_only=True, after=token)
    assert format_lsn(parse_lsn(token)) == token.upper()


def test_wal_positions_read_as_numbers():
    assert parse_lsn("0/3016038") == 0x3016038
    assert parse_lsn("1/0") == 1 << 32
    assert format_lsn(0x1_0300_0028) == "1/3000028"


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        (0x3000028, 0x3000000),  # past a segment's long page header
        (0x3002018, 0x3002000),  # past a page's short header
        (0x3002020, 0x3002020),  # inside a page: a record boundary
        (0x3000018, 0x3000018),  # a segment's first page has the long header only
    ],
)
def test_an_insert_position_past_a_page_header_means_the_page_start(position, expected):
    assert page_start(position, block_size=8192, segment_size=16 << 20) == expected


async def test_without_replicas_a_commit_has_no_token_and_after_is_accepted(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'plain.db'}")
    try:
        await db.execute("CREATE TABLE notes (body TEXT)")
        async with UnitOfWork(db) as uow:
            await uow.session.execute(text("INSERT INTO notes VALUES ('written')"))
        assert uow.consistency_token is None
        async with UnitOfWork(db, read_only=True, after="0/3016038") as reader:
            assert reader.replica_index is None
        with pytest.raises(InvalidQueryError):
            UnitOfWork(db, read_only=True, after="nonsense")
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("primary", "replicas"),
    [
        ("sqlite+aiosqlite:///x.db", ["sqlite+aiosqlite:///y.db"]),
        (NOWHERE, ["sqlite+aiosqlite:///y.db"]),
        (NOWHERE, ["not a url"]),
        (NOWHERE, [42]),
    ],
)
def test_replicas_must_be_postgresql_standbys_of_a_postgresql_primary(primary, replicas):
    with pytest.raises(InvalidQueryError):
        Database(primary, replicas=replicas)


@pytest.mark.parametrize("backoff", [-1, float("nan"), "soon", True])
def test_the_backoff_is_a_non_negative_number_of_seconds(backoff):
    with pytest.raises(InvalidQueryError, match="replica_backoff"):
        Database(NOWHERE, replicas=[NOWHERE], replica_backoff=backoff)


async def test_replicas_come_from_the_environment_as_a_comma_separated_list():
    environ = {
        "DATABASE_URL": NOWHERE,
        "DATABASE_REPLICAS": f"{NOWHERE.replace(':9/', ':7/')}, {NOWHERE.replace(':9/', ':8/')}",
        "DATABASE_REPLICA_BACKOFF": "2.5",
    }
    settings = settings_from_env(environ)
    db = database_from_settings(settings)
    try:
        assert len(db.replicas) == 2
        assert db.replicas.backoff == 2.5
        assert [r.engine.url.port for r in db.replicas.replicas] == [7, 8]
    finally:
        await db.dispose()
