"""Migrations per tenant schema: every operation of a revision runs in that schema."""

from __future__ import annotations

import asyncio
from pathlib import Path

from orm_core import Database
from orm_core.migrations import MigrationManager

CREATE = '''
import sqlalchemy as sa
from alembic import op

revision = "a1"
down_revision = None


def upgrade():
    op.create_table("items", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("items")
'''

ALTER = '''
import sqlalchemy as sa
from alembic import op

revision = "a2"
down_revision = "a1"


def upgrade():
    op.add_column("items", sa.Column("name", sa.String(20)))
    op.create_index("ix_items_name", "items", ["name"])


def downgrade():
    op.drop_index("ix_items_name", table_name="items")
    op.drop_column("items", "name")
'''


async def _columns(url: str) -> list[tuple[str, str]]:
    database = Database(url)
    try:
        rows = await database.fetch_all(
            "SELECT table_schema, column_name FROM information_schema.columns"
            " WHERE table_name = 'items' ORDER BY 1, 2"
        )
    finally:
        await database.dispose()
    return [(r["table_schema"], r["column_name"]) for r in rows]


def test_alter_operations_of_a_revision_run_in_the_tenants_schema(
    postgres_db: str, tmp_path: Path
) -> None:
    directory = tmp_path / "migrations"
    MigrationManager(None, None, directory).init()
    (directory / "versions" / "a1_create.py").write_text(CREATE)
    (directory / "versions" / "a2_alter.py").write_text(ALTER)
    MigrationManager(postgres_db, None, directory).upgrade("a1")  # public.items, no name
    for tenant in ("acme", "globex"):
        MigrationManager(postgres_db, None, directory, schema=tenant).upgrade()
    assert asyncio.run(_columns(postgres_db)) == [
        ("acme", "id"), ("acme", "name"), ("globex", "id"), ("globex", "name"), ("public", "id"),
    ]  # fmt: skip
    MigrationManager(postgres_db, None, directory, schema="acme").downgrade("a1")
    assert ("acme", "name") not in asyncio.run(_columns(postgres_db))
    assert MigrationManager(postgres_db, None, directory, schema="globex").current() == "a2"
    assert MigrationManager(postgres_db, None, directory).current() == "a1"
