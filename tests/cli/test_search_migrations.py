"""A declared search vector goes through Alembic autogenerate: column, GIN index, no drift."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from orm_core import Database, search_vector
from orm_core.migrations import MigrationManager
from tests.cli.conftest import Cli

MODELS = """
from sqlalchemy import MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from orm_core import NAMING_CONVENTION, search_vector


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Post(Base):
    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None]
    search = search_vector("title", "body")
"""


async def _search(url: str) -> list[dict[str, object]]:
    database = Database(url)
    try:
        await database.execute(
            "INSERT INTO posts (title, body) VALUES ('Python tips', 'x'), ('Other', 'python')"
        )
        return await database.fetch_all(
            "SELECT id, (SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_posts_search') "
            "AS indexdef FROM posts WHERE search @@ websearch_to_tsquery('english', 'python') "
            "ORDER BY ts_rank_cd(search, websearch_to_tsquery('english', 'python')) DESC"
        )
    finally:
        await database.dispose()


def test_autogenerate_writes_the_vector_and_its_gin_index_then_sees_no_change(
    project: Path, cli: Cli, postgres_db: str
) -> None:
    (project / "search_models.py").write_text(MODELS)
    env = {"DATABASE_URL": postgres_db, "ORM_MODELS": "search_models:Base"}
    assert cli("db", "init").exit_code == 0

    made = cli("db", "revision", "-m", "posts", "--autogenerate", **env)
    assert made.exit_code == 0, made.output
    [script] = sorted((project / "migrations" / "versions").glob("*.py"))
    source = script.read_text()
    assert "postgresql.TSVECTOR()" in source and "sa.Computed(" in source
    assert "setweight(to_tsvector(" in source and "persisted=True" in source
    assert "op.create_index('ix_posts_search'" in source and "postgresql_using='gin'" in source
    assert "orm_core" not in source, "migration files must not import the framework"

    upgraded = cli("db", "upgrade", **env)
    assert upgraded.exit_code == 0, upgraded.output
    checked = cli("db", "check", **env)
    assert checked.exit_code == 0, checked.output
    again = cli("db", "revision", "-m", "nothing", "--autogenerate", **env)
    assert again.exit_code == 0 and "no changes" in again.stdout

    rows = asyncio.run(_search(postgres_db))
    assert [r["id"] for r in rows] == [1, 2]
    assert "USING gin (search)" in str(rows[0]["indexdef"])


class SearchBase(DeclarativeBase):
    """Models of their own: the shared test metadata stays out of this database."""


class Note(SearchBase):
    __tablename__ = "search_migration_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    search = search_vector("title")


def test_fts5_tables_and_the_vector_index_are_no_difference_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"

    async def create() -> list[str]:
        database = Database(url)
        try:
            await database.create_all(SearchBase.metadata)
            rows = await database.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")
        finally:
            await database.dispose()
        return [r["name"] for r in rows]

    tables = asyncio.run(create())
    assert "search_migration_notes_search_fts" in tables  # the FTS5 table is there
    manager = MigrationManager(url, SearchBase, tmp_path / "migrations")
    manager.init()
    assert manager.differences() == []
    assert manager.revision("nothing", autogenerate=True) is None
