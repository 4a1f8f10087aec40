"""Connection options from the URL and settings: PgBouncer mode, asyncpg's numeric arguments."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from orm_core import Database, InvalidQueryError
from orm_core.connecting import connection_options
from orm_core.settings import database_from_settings, settings_from_env


def test_pgbouncer_mode_turns_every_statement_cache_off_and_names_statements_uniquely():
    url, options, pgbouncer = connection_options(
        make_url("postgresql+asyncpg://u@h/db?pgbouncer=true&application_name=x"), {}, None
    )
    assert pgbouncer is True and "pgbouncer" not in url.query
    assert url.query == {"application_name": "x"}
    args = options["connect_args"]
    assert (args["statement_cache_size"], args["prepared_statement_cache_size"]) == (0, 0)
    names = {args["prepared_statement_name_func"]() for _ in range(100)}
    assert len(names) == 100


def test_url_numbers_reach_asyncpg_as_numbers():
    url, options, pgbouncer = connection_options(
        make_url("postgresql+asyncpg://u@h/db?statement_cache_size=0&command_timeout=2.5"),
        {},
        False,
    )
    assert options["connect_args"] == {"statement_cache_size": 0, "command_timeout": 2.5}
    assert not url.query and pgbouncer is False


@pytest.mark.parametrize(
    "url", ["postgresql+asyncpg://u@h/db?pgbouncer=maybe",
            "postgresql+asyncpg://u@h/db?statement_cache_size=none"],
)  # fmt: skip
def test_unreadable_url_values_are_refused(url):
    with pytest.raises(InvalidQueryError):
        Database(url)


def test_pgbouncer_and_connect_args_come_from_the_environment():
    settings = settings_from_env(
        {"DATABASE_URL": "postgresql+asyncpg://u@h/db", "DATABASE_PGBOUNCER": "yes",
         "DATABASE_CONNECT_ARGS": '{"command_timeout": 5}'}
    )  # fmt: skip
    assert settings["pgbouncer"] is True and settings["connect_args"] == {"command_timeout": 5}
    with pytest.raises(InvalidQueryError):
        settings_from_env({"DATABASE_CONNECT_ARGS": "[1, 2]"})


@pytest.mark.postgres
async def test_a_url_statement_cache_size_works_against_the_server(database):
    url = make_url(database.url).set(query={**database.url.query, "statement_cache_size": "0"})
    db = database_from_settings({"url": url.render_as_string(hide_password=False)})
    try:
        assert await db.fetch_one("SELECT CAST(:n AS int) + 1 AS n", {"n": 1}) == {"n": 2}
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await db.dispose()
