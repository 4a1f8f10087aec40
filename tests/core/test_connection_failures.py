"""Every way of not connecting is a `DatabaseUnavailableError`, on every backend."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from orm_core import Database, DatabaseUnavailableError, UnitOfWork
from orm_repositories import AsyncRepository
from tests.conftest import POSTGRES_URL
from tests.models import Product

MYSQL_URL = "mysql+aiomysql://root@127.0.0.1:3306/test"


def postgres(**parts: object) -> str:
    return make_url(POSTGRES_URL).set(**parts).render_as_string(hide_password=False)


FAILURES = {
    "refused": lambda: postgres(port=5499),
    "dns": lambda: postgres(host="no-such-host.invalid"),
    "unknown database": lambda: postgres(database="orm_no_such_database"),
    "unknown role": lambda: postgres(username="orm_no_such_role"),
    "sqlite unopenable": lambda: "sqlite+aiosqlite:////nonexistent-dir/sub/x.db",
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
async def test_a_failed_connection_is_database_unavailable(failure, postgres_url):
    if postgres_url is None and failure != "sqlite unopenable":
        pytest.skip("PostgreSQL unreachable")
    database = Database(FAILURES[failure](), pool_timeout=2)
    try:
        with pytest.raises(DatabaseUnavailableError):
            async with UnitOfWork(database) as uow:
                await uow.repository(AsyncRepository[Product]).count()
        with pytest.raises(DatabaseUnavailableError):
            await database.fetch_all("SELECT 1")
        assert (await database.health_check())["status"] == "unhealthy"
    finally:
        await database.dispose()


@pytest.mark.parametrize("part", ["password", "database"])
async def test_mariadb_refusals_are_database_unavailable(part):
    url = make_url(MYSQL_URL).set(**{part: "wrong" if part == "password" else "orm_missing"})
    database = Database(url)
    try:
        with pytest.raises(DatabaseUnavailableError):
            await database.fetch_all("SELECT 1")
    finally:
        await database.dispose()
