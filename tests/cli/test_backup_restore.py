"""`orm db backup` and `orm db restore`: round trips that keep every value, on both backends."""

from __future__ import annotations

import asyncio
import importlib
import os
import stat
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from orm_core import Database, UnitOfWork
from orm_repositories.cli import pgtools
from tests.cli.conftest import POSTGRES_URL, Cli, RunOrm, database_exists
from tests.cli.test_cli_errors import assert_one_line_failure

# pg_dump and pg_restore, and the databases a restore creates, need the server itself
pytestmark = pytest.mark.server_session

BACKUP_MODELS = """
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, MetaData, Numeric, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from orm_core import NAMING_CONVENTION
from orm_core import Base as OrmBase


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = OrmBase.type_annotation_map


class Author(Base):
    __tablename__ = "authors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    born: Mapped[date | None]
    bio: Mapped[str | None] = mapped_column(Text)


class Book(Base):
    __tablename__ = "books"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    rating: Mapped[float | None]
    published_at: Mapped[datetime | None]
    extra: Mapped[dict[str, object] | None] = mapped_column(JSON)


class Loan(Base):
    __tablename__ = "loans"
    __table_args__ = {"sqlite_autoincrement": True}  # SQLite keeps a sequence, never reuses ids

    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id"))
    reader: Mapped[str] = mapped_column(String(50))
    returned: Mapped[bool | None]
"""
MOMENT = datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=UTC)
AUTHORS = [
    {"name": "Zoë Ånström", "born": date(1970, 1, 1), "bio": "naïve café — 日本語 🎉"},
    {"name": 'O\'Brien "Quote"', "born": None, "bio": None},
    {"name": "Back\\slash", "born": date(1, 1, 1), "bio": "line\nbreak\ttab"},
]
BOOKS = [
    {"author_id": 1, "title": "Ünïcode", "price": Decimal("1234567890.1234"), "rating": 4.5,
     "published_at": MOMENT, "extra": {"tags": ["a", "ß"], "n": 1}},
    {"author_id": 1, "title": "Nulls", "price": Decimal("0.0000"), "rating": None,
     "published_at": None, "extra": None},
    {"author_id": 2, "title": "Negative", "price": Decimal("-0.0001"), "rating": -1e-300,
     "published_at": MOMENT - timedelta(days=3650, microseconds=1), "extra": {}},
    {"author_id": 3, "title": "Last", "price": Decimal("99999999.9999"), "rating": 0.1,
     "published_at": MOMENT + timedelta(seconds=1), "extra": [1, None, "x"]},
]  # fmt: skip
LOANS = [
    {"book_id": 1, "reader": "ana", "returned": True},
    {"book_id": 1, "reader": "bo", "returned": None},
    {"book_id": 3, "reader": "çé", "returned": False},
]


def migrate(project: Path, cli: Cli, url: str) -> dict[str, str]:
    (project / "backup_models.py").write_text(BACKUP_MODELS)
    env = {"DATABASE_URL": url, "ORM_MODELS": "backup_models:Base"}
    assert cli("db", "init").exit_code == 0
    assert cli("db", "revision", "-m", "tables", "--autogenerate", **env).exit_code == 0
    upgraded = cli("db", "upgrade", **env)
    assert upgraded.exit_code == 0, upgraded.output
    return env


def models() -> Any:
    # the project directory is importable once `cli` ran there
    return importlib.import_module("backup_models")


def fill(url: str) -> None:
    """Insert the rows, then delete the newest of each table: ids continue past the gap."""
    m = models()

    async def run() -> None:
        database = Database(url)
        try:
            async with UnitOfWork(database) as uow:
                for model, rows in ((m.Author, AUTHORS), (m.Book, BOOKS), (m.Loan, LOANS)):
                    await uow.repository(model).bulk_create(rows)
                loans = uow.repository(m.Loan)
                await loans.delete_where(id=await loans.count())
                await uow.commit()
        finally:
            await database.dispose()

    asyncio.run(run())


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, read through the models' types, ordered by key."""
    m = models()

    async def run() -> dict[str, list[tuple[Any, ...]]]:
        database = Database(url)
        try:
            async with database.session() as session:
                found = {}
                for table in m.Base.metadata.sorted_tables:
                    result = await session.execute(select(table).order_by(*table.primary_key))
                    found[table.name] = [tuple(row) for row in result]
                return found
        finally:
            await database.dispose()

    return asyncio.run(run())


def next_ids(url: str) -> dict[str, int]:
    """Insert one row into each table and return the ids the database gave them."""
    m = models()

    async def run() -> dict[str, int]:
        database = Database(url)
        try:
            async with UnitOfWork(database) as uow:
                author = await uow.repository(m.Author).create(name="new one")
                book = await uow.repository(m.Book).create(
                    author_id=author.id, title="t", price=Decimal(1)
                )
                loan = await uow.repository(m.Loan).create(book_id=book.id, reader="r")
                await uow.commit()
                return {"authors": author.id, "books": book.id, "loans": loan.id}
        finally:
            await database.dispose()

    return asyncio.run(run())


def other_database(source: str, tmp_path: Path) -> str:
    """A URL beside `source` (same backend) for a database that does not exist yet."""
    parsed = make_url(source)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'restored' / 'copy.db'}"
    return parsed.set(database=f"{parsed.database}_copy").render_as_string(hide_password=False)


@pytest.fixture
def copy_url(db_url: str, tmp_path: Path) -> Any:
    url = other_database(db_url, tmp_path)
    yield url
    if url.startswith("postgresql"):
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))


async def admin(statement: str) -> Any:
    dsn = make_url(POSTGRES_URL).set(drivername="postgresql", query={})
    conn = await asyncpg.connect(dsn.render_as_string(hide_password=False), timeout=5)
    try:
        return await conn.fetch(statement)
    finally:
        await conn.close()


def test_a_backup_restored_elsewhere_holds_exactly_the_same_rows_and_ids_continue(
    cli: Cli, project: Path, db_url: str, copy_url: str, tmp_path: Path
) -> None:
    env = migrate(project, cli, db_url)
    fill(db_url)
    original = snapshot(db_url)
    assert [len(original[t]) for t in ("authors", "books", "loans")] == [3, 4, 2]
    file = tmp_path / "shop.backup"

    made = cli("db", "backup", str(file), **env)
    assert made.exit_code == 0, made.output
    assert made.stdout.startswith(f"backed up database {make_url(db_url).database}")
    assert file.stat().st_size > 0
    assert stat.S_IMODE(file.stat().st_mode) == 0o600, "a backup is readable by its owner only"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".shop.backup")]

    assert not database_exists(copy_url)
    restored = cli("db", "restore", str(file), "--url", copy_url)
    assert restored.exit_code == 0, restored.output
    assert "restored" in restored.stdout
    assert snapshot(copy_url) == original
    assert cli("db", "current", "--url", copy_url).stdout == cli("db", "current", **env).stdout
    # the sequences (PostgreSQL) and the largest keys (SQLite) came along: the next insert
    # gets the id it would have got in the original, past the deleted loan
    assert next_ids(copy_url) == next_ids(db_url) == {"authors": 4, "books": 5, "loans": 4}


def test_restoring_into_a_database_that_holds_data_needs_clean_and_yes(
    cli: Cli, project: Path, db_url: str, tmp_path: Path
) -> None:
    env = migrate(project, cli, db_url)
    fill(db_url)
    backed_up = snapshot(db_url)
    file = tmp_path / "before.backup"
    assert cli("db", "backup", str(file), **env).exit_code == 0
    next_ids(db_url)
    changed = snapshot(db_url)
    assert changed != backed_up

    refused = cli("db", "restore", str(file), **env)
    assert_one_line_failure(refused, "is not empty", "--clean --yes")
    unconfirmed = cli("db", "restore", str(file), "--clean", **env)
    assert_one_line_failure(unconfirmed, "replaces everything", "pass --yes")
    assert snapshot(db_url) == changed

    replaced = cli("db", "restore", str(file), "--clean", "--yes", **env)
    assert replaced.exit_code == 0, replaced.output
    assert snapshot(db_url) == backed_up
    assert next_ids(db_url) == {"authors": 4, "books": 5, "loans": 4}


def test_a_restore_that_fails_leaves_the_database_as_it_was(
    cli: Cli, project: Path, db_url: str, tmp_path: Path
) -> None:
    env = migrate(project, cli, db_url)
    fill(db_url)
    before = snapshot(db_url)
    file = tmp_path / "whole.backup"
    assert cli("db", "backup", str(file), **env).exit_code == 0
    broken = tmp_path / "broken.backup"
    content = file.read_bytes()
    broken.write_bytes(content[: len(content) // 2])  # the right header, half the data

    result = cli("db", "restore", str(broken), "--clean", "--yes", **env)
    assert_one_line_failure(result)
    assert snapshot(db_url) == before
    if db_url.startswith("postgresql"):
        left = asyncio.run(admin("SELECT datname FROM pg_database WHERE datname LIKE '%restore%'"))
        assert not [r for r in left if str(r["datname"]).startswith(str(make_url(db_url).database))]


@pytest.mark.postgres
def test_a_restore_into_a_new_database_that_fails_leaves_no_database_behind(
    cli: Cli, project: Path, postgres_db: str, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.backup"
    broken.write_bytes(b"PGDMP" + bytes(200))
    target = make_url(postgres_db).set(database=f"{make_url(postgres_db).database}_new")
    url = target.render_as_string(hide_password=False)
    assert_one_line_failure(cli("db", "restore", str(broken), "--url", url), "pg_restore failed")
    assert not database_exists(url)


def test_a_backup_of_the_other_backend_or_of_nothing_is_refused_before_any_change(
    cli: Cli, project: Path, db_url: str, tmp_path: Path
) -> None:
    postgres = db_url.startswith("postgresql")
    other = tmp_path / "other.backup"
    other.write_bytes(b"SQLite format 3\x00" + bytes(100) if postgres else b"PGDMP\x01")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert_one_line_failure(
        cli("db", "restore", str(other), "--url", db_url),
        "a SQLite backup" if postgres else "a PostgreSQL archive",
    )
    assert_one_line_failure(cli("db", "restore", str(text), "--url", db_url), "is not a")
    missing = cli("db", "restore", str(tmp_path / "nope.backup"), "--url", db_url)
    assert_one_line_failure(missing, "cannot read", "nope.backup")


def test_a_backup_replaces_an_older_file_only_once_it_is_complete(
    cli: Cli, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "keep.backup"
    file.write_text("the previous backup")
    missing = tmp_path / "missing.db"
    result = cli("db", "backup", str(file), "--url", f"sqlite+aiosqlite:///{missing}")
    assert_one_line_failure(result, "no SQLite database at")
    assert not missing.exists(), "backing up never creates the database"
    assert file.read_text() == "the previous backup"
    result = cli("db", "backup", str(tmp_path / "no" / "dir.backup"), "--url", f"sqlite:///{file}")
    assert_one_line_failure(result, "is not a directory")


@pytest.mark.postgres
def test_a_missing_pg_dump_is_one_clear_line_and_the_file_is_left_alone(
    cli: Cli, project: Path, postgres_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    file = tmp_path / "old.backup"
    file.write_text("the previous backup")
    with monkeypatch.context() as patch:
        patch.setattr(pgtools, "INSTALL_PATTERNS", ())  # PATH is the only place left
        result = cli("db", "backup", str(file), "--url", postgres_db, PATH=str(empty))
    assert_one_line_failure(result, "pg_dump not found", "postgresql-client", "ORM_PG_BINDIR")
    assert file.read_text() == "the previous backup"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    armoured = cli("db", "restore", str(file), "--url", postgres_db, ORM_PG_BINDIR=str(empty))
    assert_one_line_failure(armoured, "is not a pg_dump custom-format archive")
    file.write_bytes(b"PGDMP" + bytes(100))
    result = cli("db", "restore", str(file), "--url", postgres_db, ORM_PG_BINDIR=str(empty))
    assert_one_line_failure(result, f"pg_restore not found in {empty}")


@pytest.mark.postgres
def test_the_installed_script_reports_a_missing_pg_dump_without_a_traceback(
    run_orm: RunOrm, postgres_db: str, tmp_path: Path
) -> None:
    result = run_orm("db", "backup", "x.backup", "--url", postgres_db, ORM_PG_BINDIR=str(tmp_path))
    assert result.returncode == 2
    assert_one_line_failure(result, "pg_dump not found")


def fake_program(folder: Path, name: str, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f'#!/bin/sh\necho "{name} (PostgreSQL) {version}"\n')
    path.chmod(0o755)
    return path


def test_the_client_of_the_server_version_is_chosen_and_never_an_older_one(
    tmp_path: Path,
) -> None:
    programs = [pgtools.Program(Path(f"/v{v}/pg_dump"), v) for v in (13, 17, 15, 16)]
    assert pgtools.choose(programs, 15).major == 15  # type: ignore[union-attr]
    assert pgtools.choose(programs, 14).major == 15  # type: ignore[union-attr]
    assert pgtools.choose(programs, 18) is None
    assert pgtools.version_of(fake_program(tmp_path / "a", "pg_dump", "16.4 (Debian)")) == 16
    assert pgtools.version_of(fake_program(tmp_path / "b", "pg_dump", "9.6.24")) == 9
    assert pgtools.version_of(tmp_path / "nothing") is None


@pytest.mark.postgres
def test_only_an_older_pg_dump_is_a_clear_error_naming_both_versions(
    cli: Cli, project: Path, postgres_db: str, tmp_path: Path
) -> None:
    old = fake_program(tmp_path / "old", "pg_dump", "9.6.24")
    result = cli("db", "backup", "x.backup", "--url", postgres_db, ORM_PG_BINDIR=str(old.parent))
    assert_one_line_failure(result, "older than the server", "(9)", "install the PostgreSQL")


@pytest.mark.postgres
def test_the_password_travels_in_the_environment_never_on_the_command_line(
    cli: Cli, project: Path, postgres_db: str, tmp_path: Path
) -> None:
    real = {name: pgtools.candidates(name)[0] for name in ("pg_dump", "pg_restore")}
    wrappers = tmp_path / "wrappers"
    wrappers.mkdir()
    log = tmp_path / "calls.log"
    for name, path in real.items():
        script = wrappers / name
        script.write_text(
            f'#!/bin/sh\necho "ARGS $*" >> {log}\necho "PGPASSWORD=$PGPASSWORD" >> {log}\n'
            f'exec {path} "$@"\n'
        )
        script.chmod(0o755)
    secret = make_url(postgres_db).set(password="n0t-on-argv")
    url = secret.render_as_string(hide_password=False)  # the local server trusts loopback
    file = tmp_path / "pw.backup"
    environ = {"ORM_PG_BINDIR": str(wrappers), "PGPASSWORD": ""}

    made = cli("db", "backup", str(file), "--url", url, **environ)
    assert made.exit_code == 0, made.output
    restored = cli("db", "restore", str(file), "--clean", "--yes", "--url", url, **environ)
    assert restored.exit_code == 0, restored.output
    calls = log.read_text().splitlines()
    arguments = [line for line in calls if line.startswith("ARGS") and "--version" not in line]
    assert len(arguments) == 2, calls
    assert all("n0t-on-argv" not in line and "127.0.0.1" not in line for line in arguments)
    assert "PGPASSWORD=n0t-on-argv" in calls
    assert "n0t-on-argv" not in made.output + restored.output
    assert "***" not in made.output, "the success line names the database, not the URL"


def test_sqlite_backups_are_one_self_contained_file(
    cli: Cli, project: Path, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}"
    env = migrate(project, cli, url)
    fill(url)

    async def hold_open() -> None:
        database = Database(url)  # WAL mode, as every application connection sets it
        try:
            await database.execute("INSERT INTO authors (name) VALUES ('in the wal')")
            file = tmp_path / "one.backup"
            made = await asyncio.to_thread(cli, "db", "backup", str(file), **env)
            assert made.exit_code == 0, made.output
        finally:
            await database.dispose()

    asyncio.run(hold_open())
    file = tmp_path / "one.backup"
    assert file.read_bytes()[:16] == b"SQLite format 3\x00"
    assert file.read_bytes()[18:20] == b"\x01\x01", "rollback journal, not WAL"
    copy = tmp_path / "copy.db"
    assert cli("db", "restore", str(file), "--url", f"sqlite:///{copy}").exit_code == 0
    assert os.path.getsize(copy) > 0
    names = [r[1] for r in snapshot(f"sqlite+aiosqlite:///{copy}")["authors"]]
    assert "in the wal" in names
