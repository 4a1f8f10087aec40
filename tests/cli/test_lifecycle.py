"""`orm db create|drop|reset|inspect` on real SQLite files and PostgreSQL databases."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from orm_core import Database
from tests.cli.conftest import Cli, RunOrm, database_exists
from tests.cli.test_cli_errors import assert_one_line_failure

UNREACHABLE = "postgresql+asyncpg://app:s3cret-pw@127.0.0.1:1/nowhere"
LIFECYCLE_MODELS = """
from sqlalchemy import ForeignKey, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from orm_core import NAMING_CONVENTION


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Shelf(Base):
    __tablename__ = "shelves"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(40), unique=True)
    room: Mapped[str | None] = mapped_column(String(20), index=True)


class Box(Base):
    __tablename__ = "boxes"

    id: Mapped[int] = mapped_column(primary_key=True)
    shelf_id: Mapped[int] = mapped_column(ForeignKey("shelves.id"), index=True)
    weight: Mapped[int | None]
"""


def migrate(project: Path, cli: Cli, url: str) -> dict[str, str]:
    """Write the models, init, autogenerate and upgrade; return the settings environment."""
    (project / "life_models.py").write_text(LIFECYCLE_MODELS)
    env = {"DATABASE_URL": url, "ORM_MODELS": "life_models:Base"}
    assert cli("db", "init").exit_code == 0
    made = cli("db", "revision", "-m", "tables", "--autogenerate", **env)
    assert made.exit_code == 0, made.output
    upgraded = cli("db", "upgrade", **env)
    assert upgraded.exit_code == 0, upgraded.output
    return env


def sql(url: str, *statements: str) -> list[dict[str, Any]]:
    """Run statements (the last one's rows are returned) on the database of `url`."""

    async def run() -> list[dict[str, Any]]:
        database = Database(url)
        try:
            for statement in statements[:-1]:
                await database.execute(statement)
            return await database.fetch_all(statements[-1])
        finally:
            await database.dispose()

    return asyncio.run(run())


def fill(url: str) -> None:
    sql(
        url,
        "INSERT INTO shelves (label, room) VALUES ('A', 'hall'), ('B', NULL), ('C', 'attic')",
        "INSERT INTO boxes (shelf_id, weight) VALUES (1, 10), (1, NULL), (3, 7)",
        "SELECT 1 AS done",
    )


def test_create_makes_the_database_and_is_a_noted_no_op_when_it_exists(
    cli: Cli, project: Path, absent_db_url: str
) -> None:
    assert not database_exists(absent_db_url)
    created = cli("db", "create", "--url", absent_db_url)
    assert created.exit_code == 0, created.output
    assert created.stdout.startswith("created database")
    assert database_exists(absent_db_url)
    assert sql(absent_db_url, "SELECT 1 AS one") == [{"one": 1}]

    again = cli("db", "create", DATABASE_URL=absent_db_url)
    assert again.exit_code == 0, again.output
    assert "already exists; nothing to do" in again.stdout


@pytest.mark.server_session  # creates and drops databases on the server itself
def test_drop_refuses_without_yes_and_is_a_noted_no_op_when_the_database_is_gone(
    cli: Cli, project: Path, db_url: str
) -> None:
    sql(db_url, "CREATE TABLE keep_me (id INTEGER PRIMARY KEY)", "SELECT 1 AS done")
    refused = cli("db", "drop", "--url", db_url)
    assert refused.exit_code == 2
    assert_one_line_failure(refused, "pass --yes", "deletes database")
    assert database_exists(db_url)
    assert sql(db_url, "SELECT count(*) AS n FROM keep_me") == [{"n": 0}]

    dropped = cli("db", "drop", "--yes", "--url", db_url)
    assert dropped.exit_code == 0, dropped.output
    assert dropped.stdout.startswith("dropped database")
    assert not database_exists(db_url)

    again = cli("db", "drop", "-y", "--url", db_url)
    assert again.exit_code == 0, again.output
    assert "does not exist; nothing to do" in again.stdout


@pytest.mark.postgres
def test_dropping_a_database_in_use_names_force_which_ends_the_sessions(
    cli: Cli, project: Path, postgres_db: str
) -> None:
    async def scenario() -> tuple[Any, bool, Any]:
        # a session of another client holds the database open while `orm` runs (in a thread:
        # the command runs its own event loop)
        dsn = make_url(postgres_db).set(drivername="postgresql", query={})
        holder = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        try:
            refused = await asyncio.to_thread(cli, "db", "drop", "--yes", "--url", postgres_db)
            still_there = await asyncio.to_thread(database_exists, postgres_db)
            forced = await asyncio.to_thread(
                cli, "db", "drop", "--yes", "--force", "--url", postgres_db
            )
        finally:
            holder.terminate()
        return refused, still_there, forced

    refused, still_there, forced = asyncio.run(scenario())
    assert_one_line_failure(refused, "in use by other sessions", "--force")
    assert still_there
    assert forced.exit_code == 0, forced.output
    assert not database_exists(postgres_db)


@pytest.mark.server_session  # creates and drops databases on the server itself
def test_reset_leaves_a_migrated_empty_database(cli: Cli, project: Path, db_url: str) -> None:
    env = migrate(project, cli, db_url)
    fill(db_url)
    sql(db_url, "CREATE TABLE stray (id INTEGER PRIMARY KEY)", "SELECT 1 AS done")
    head = cli("db", "current", **env).stdout.strip()

    refused = cli("db", "reset", **env)
    assert_one_line_failure(refused, "pass --yes")
    assert sql(db_url, "SELECT count(*) AS n FROM shelves") == [{"n": 3}]

    reset = cli("db", "reset", "--yes", **env)
    assert reset.exit_code == 0, reset.output
    assert f"upgraded to {head}" in reset.stdout
    assert cli("db", "current", **env).stdout.strip() == head
    assert cli("db", "check", **env).exit_code == 0
    report = json.loads(cli("db", "inspect", "--json", "--exact", **env).stdout)
    rows = {t["name"]: t["rows"] for t in report["tables"]}
    assert rows == {"alembic_version": 1, "shelves": 0, "boxes": 0}  # stray is gone
    sql(db_url, "INSERT INTO shelves (label) VALUES ('new')", "SELECT 1 AS done")
    assert sql(db_url, "SELECT id FROM shelves") == [{"id": 1}], "ids start again"


def test_reset_without_a_migration_environment_drops_nothing(
    cli: Cli, project: Path, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'keep.db'}"
    sql(url, "CREATE TABLE precious (id INTEGER PRIMARY KEY)", "SELECT 1 AS done")
    result = cli("db", "reset", "--yes", "--url", url, "--directory", "nowhere")
    assert_one_line_failure(result, "orm db init")
    assert sql(url, "SELECT count(*) AS n FROM precious") == [{"n": 0}]


def test_inspect_describes_tables_columns_indexes_and_rows(
    cli: Cli, project: Path, db_url: str
) -> None:
    env = migrate(project, cli, db_url)
    fill(db_url)
    postgres = db_url.startswith("postgresql")
    before = json.loads(cli("db", "inspect", "--json", **env).stdout)
    if postgres:  # never analysed: PostgreSQL has no estimate yet
        assert {t["rows"] for t in before["tables"]} == {None}
        sql(db_url, "ANALYZE", "SELECT 1 AS done")

    result = cli("db", "inspect", "--json", **env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"dialect", "database", "schema", "revision", "tables"}
    assert report["dialect"] == ("postgresql" if postgres else "sqlite")
    assert report["schema"] == ("public" if postgres else "main")
    assert report["revision"] == cli("db", "current", **env).stdout.strip()
    tables = {t["name"]: t for t in report["tables"]}
    assert list(tables) == ["alembic_version", "boxes", "shelves"]
    shelves = tables["shelves"]
    assert set(shelves) == {"name", "rows", "rows_estimated", "primary_key", "columns", "indexes"}
    assert shelves["rows"] == 3 and tables["boxes"]["rows"] == 3
    assert shelves["rows_estimated"] is postgres
    assert shelves["primary_key"] == ["id"]
    columns = {c["name"]: c for c in shelves["columns"]}
    assert list(columns) == ["id", "label", "room"]
    assert set(columns["id"]) == {"name", "type", "nullable", "default", "primary_key"}
    assert columns["id"]["primary_key"] and not columns["id"]["nullable"]
    assert columns["id"]["type"] == "INTEGER"
    assert columns["label"]["type"] == "VARCHAR(40)" and not columns["label"]["nullable"]
    assert columns["room"]["nullable"] and not columns["room"]["primary_key"]
    assert shelves["indexes"] == [
        {"name": "ix_shelves_room", "columns": ["room"], "unique": False},
        {"name": "uq_shelves_label", "columns": ["label"], "unique": True},
    ]
    assert tables["boxes"]["indexes"] == [
        {"name": "ix_boxes_shelf_id", "columns": ["shelf_id"], "unique": False}
    ]

    exact = json.loads(cli("db", "inspect", "--json", "--exact", **env).stdout)
    assert {t["name"]: (t["rows"], t["rows_estimated"]) for t in exact["tables"]} == {
        "alembic_version": (1, False),
        "boxes": (3, False),
        "shelves": (3, False),
    }

    text = cli("db", "inspect", **env)
    assert text.exit_code == 0, text.output
    assert f"({report['revision']})" in text.stdout.splitlines()[0]
    assert ("shelves  ~3 rows" if postgres else "shelves  3 rows") in text.stdout
    assert "unique index uq_shelves_label (label)" in text.stdout
    assert "room   VARCHAR(20)  NULL" in text.stdout


def test_inspect_of_an_empty_database_lists_no_tables(cli: Cli, project: Path, db_url: str) -> None:
    sql(db_url, "SELECT 1 AS one")  # makes the SQLite file
    report = json.loads(cli("db", "inspect", "--json", "--url", db_url).stdout)
    assert report["tables"] == [] and report["revision"] is None
    assert "no tables" in cli("db", "inspect", "--url", db_url).stdout


@pytest.mark.parametrize(
    "command",
    [
        ["create"],
        ["drop", "--yes"],
        ["reset", "--yes"],
        ["inspect"],
        ["inspect", "--json"],
        ["backup", "out.dump"],
        ["restore", "in.dump"],
        ["restore", "in.dump", "--clean", "--yes"],
    ],
)
def test_an_unreachable_server_is_one_clean_line_without_the_password(
    cli: Cli, project: Path, command: list[str]
) -> None:
    (project / "in.dump").write_bytes(b"PGDMP" + bytes(100))
    assert cli("db", "init").exit_code == 0
    result = cli("db", *command, "--url", UNREACHABLE)
    assert result.exit_code == 2
    assert_one_line_failure(result, "cannot connect to the database", "app:***@127.0.0.1:1")
    assert "s3cret-pw" not in result.output + result.stderr
    assert not (project / "out.dump").exists()


@pytest.mark.postgres
def test_a_missing_database_or_role_is_a_connection_failure(
    cli: Cli, project: Path, postgres_db: str
) -> None:
    gone = make_url(postgres_db).set(database="orm_cli_never_made").render_as_string(False)
    assert_one_line_failure(cli("db", "inspect", "--url", gone), "cannot connect", "does not exist")
    stranger = make_url(postgres_db).set(username="orm_no_such_role", password="pw-9")
    result = cli("db", "create", "--url", stranger.render_as_string(hide_password=False))
    assert_one_line_failure(result, "cannot connect", "orm_no_such_role")
    assert "pw-9" not in result.stderr


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("sqlite+aiosqlite://", "not an in-memory database"),
        ("sqlite+aiosqlite:///:memory:", "not an in-memory database"),
        ("mysql+aiomysql://root@127.0.0.1/app", "supports PostgreSQL and SQLite, not mysql"),
        ("postgresql+asyncpg://postgres@127.0.0.1:5432", "names no database"),
        ("not a url", "bad database URL"),
    ],
)
def test_targets_the_commands_cannot_handle_are_refused(
    cli: Cli, project: Path, url: str, fragment: str
) -> None:
    for command in (["create"], ["drop", "--yes"], ["inspect"], ["backup", "x.bak"]):
        assert_one_line_failure(cli("db", *command, "--url", url), fragment)


def test_every_lifecycle_command_takes_url_models_and_directory(
    run_orm: RunOrm, project: Path
) -> None:
    (project / "life_models.py").write_text(LIFECYCLE_MODELS)
    url = f"sqlite+aiosqlite:///{project / 'all.db'}"
    options = ("--url", url, "--models", "life_models:Base", "--directory", "migs")
    assert run_orm("db", "init", "migs").returncode == 0
    made = run_orm("db", "revision", "-m", "t", "--autogenerate", *options)
    assert made.returncode == 0, made.stderr
    for command in (
        ["create"],
        ["reset", "--yes"],
        ["inspect"],
        ["inspect", "--json"],
        ["seed", "Shelf", "--count", "3"],
        ["seed", "Shelf", "--count", "2", "--truncate"],
        ["backup", "all.bak"],
        ["restore", "all.bak", "--clean", "--yes"],
        ["health"],
        ["drop", "--yes"],
    ):
        result = run_orm("db", *command, *options)
        assert result.returncode == 0, (command, result.stderr)
        assert "Traceback" not in result.stderr
