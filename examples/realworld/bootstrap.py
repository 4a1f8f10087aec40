"""Prepare the database at start-up: migrations on PostgreSQL, `create_all` elsewhere."""

from __future__ import annotations

from pathlib import Path

from examples.realworld.models import RealWorldBase
from orm_core import Database
from orm_core.migrations import MigrationManager

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


async def create_tables(database: Database) -> None:
    """Bring the schema up to date.

    On PostgreSQL Conduit runs its Alembic migrations (`examples/realworld/migrations`,
    the same as `orm db upgrade -d examples/realworld/migrations`); on SQLite it
    creates the missing tables straight from the models.
    """
    if database.dialect == "postgresql":
        await MigrationManager(database.url, None, MIGRATIONS).upgrade_on(database.engine)
    else:
        await database.create_all(RealWorldBase.metadata)
