"""A unit of work whose COMMIT the database refuses leaves the next unit of work usable."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from orm_core import ConstraintError, UnitOfWork


@pytest.fixture
async def deferred_orphans(database):
    await database.execute("CREATE TABLE commit_parents (id INTEGER PRIMARY KEY)")
    await database.execute(
        "CREATE TABLE commit_children (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL"
        " REFERENCES commit_parents (id) DEFERRABLE INITIALLY DEFERRED)"
    )
    try:
        yield
    finally:
        await database.execute("DROP TABLE commit_children")
        await database.execute("DROP TABLE commit_parents")


async def test_a_commit_refused_over_a_deferred_key_does_not_poison_the_pool(
    database, deferred_orphans
):
    # SQLite keeps its transaction open after such a COMMIT; SQLAlchemy thinks it ended
    with pytest.raises(ConstraintError):
        async with UnitOfWork(database) as uow:
            await uow.session.execute(text("INSERT INTO commit_children VALUES (1, 99)"))
    for key in range(3):  # whichever pooled connection comes next
        async with UnitOfWork(database) as uow:
            await uow.session.execute(text("INSERT INTO commit_parents VALUES (:k)"), {"k": key})
    assert await database.fetch_all("SELECT count(*) AS n FROM commit_parents") == [{"n": 3}]
    assert await database.fetch_all("SELECT count(*) AS n FROM commit_children") == [{"n": 0}]
