"""Back a database up to one file and restore it: pg_dump/pg_restore, or SQLite's backup API."""

from __future__ import annotations

import os
import secrets
import sqlite3
import tempfile
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from orm_core.errors import OrmError
from orm_repositories.cli import pgtools, server
from orm_repositories.cli.target import CommandError, DatabaseTarget

PG_ARCHIVE_MAGIC = b"PGDMP"
SQLITE_MAGIC = b"SQLite format 3\x00"
# Owners and grants name roles the restoring server may lack; objects belong to the
# restoring user instead. One transaction: a failed restore leaves nothing behind.
PG_RESTORE_OPTIONS = ("--no-owner", "--no-acl", "--single-transaction", "--exit-on-error")


async def backup(target: DatabaseTarget, file: Path) -> None:
    """Write the whole database to `file` (replaced only once the backup is complete).

    Raises:
        DatabaseUnavailableError: the database cannot be reached.
        CommandError: a missing tool or database, or a failed dump.
    """
    if target.is_sqlite and not target.path.is_file():
        raise CommandError(f"no SQLite database at {target.path}")
    folder = file.parent
    if not folder.is_dir():
        raise CommandError(f"cannot write {file}: {folder} is not a directory")
    if target.is_sqlite:
        _write_atomically(file, lambda partial: _sqlite_copy(target.path, partial, standalone=True))
        return
    program = pgtools.find("pg_dump", await server.server_version(target))
    _write_atomically(
        file,
        lambda partial: pgtools.run(program, ["--format=custom", f"--file={partial}"], target),
    )


async def restore(target: DatabaseTarget, file: Path, *, clean: bool, force: bool) -> None:
    """Restore `file`, written by `backup`, into the database.

    A missing database is created. One that holds anything is replaced only with
    `clean` (PostgreSQL: dropped and created again; SQLite: overwritten).

    Raises:
        DatabaseUnavailableError: the database cannot be reached.
        CommandError: the file is no backup of this backend, the database is not
            empty and `clean` is off, a missing tool, or a failed restore.
    """
    _check_archive(target, file)
    present = await server.exists(target)
    if present and not clean and await server.user_objects(target):
        raise CommandError(
            f"database {target.name} is not empty; pass --clean --yes to replace its contents "
            "with the backup"
        )
    if present and clean and not target.is_sqlite:
        await _replace(target, file, force=force)
        return
    if not present:
        await server.create(target)
    try:
        if target.is_sqlite:  # the backup API overwrites every page: nothing else to clean
            _sqlite_copy(file, target.path)
        else:
            await _pg_restore(target, file)
    except BaseException:
        if not present:  # leave things as they were: no half-made database behind
            await server.drop(target)
        raise


async def _replace(target: DatabaseTarget, file: Path, *, force: bool) -> None:
    """Restore into a new database beside the target, then swap it in: all or nothing."""
    staging = DatabaseTarget(target.on(f"{target.name[:40]}_restore_{secrets.token_hex(4)}"))
    await server.create(staging)
    try:
        await _pg_restore(staging, file)
        await server.drop(target, force=force)
    except BaseException:
        await server.drop(staging)
        raise
    try:
        await server.rename(staging, target.name)
    except OrmError as exc:
        raise CommandError(
            f"{exc.message}; the restored data is in database {staging.name}: rename it to "
            f"{target.name} with ALTER DATABASE … RENAME TO"
        ) from exc


async def _pg_restore(target: DatabaseTarget, file: Path) -> None:
    program = pgtools.find("pg_restore", await server.server_version(target))
    # a conninfo naming the database alone: the rest travels in PG* variables
    pgtools.run(
        program, [*PG_RESTORE_OPTIONS, f"--dbname={_conninfo(target.name)}", str(file)], target
    )


def _conninfo(database: str) -> str:
    escaped = database.replace("\\", "\\\\").replace("'", "\\'")
    return f"dbname='{escaped}'"


def _check_archive(target: DatabaseTarget, file: Path) -> None:
    try:
        with file.open("rb") as stream:
            head = stream.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise CommandError(f"cannot read {file}: {exc.strerror or exc}") from exc
    expected, other = (SQLITE_MAGIC, PG_ARCHIVE_MAGIC) if target.is_sqlite else (
        PG_ARCHIVE_MAGIC, SQLITE_MAGIC
    )  # fmt: skip
    if head.startswith(expected):
        return
    if head.startswith(other):
        kind = "a PostgreSQL archive" if other == PG_ARCHIVE_MAGIC else "a SQLite backup"
        raise CommandError(f"{file} is {kind}; it cannot be restored into {target.backend}")
    made_by = "SQLite database file" if target.is_sqlite else "pg_dump custom-format archive"
    raise CommandError(f"{file} is not a {made_by} (as `orm db backup` writes)")


def _sqlite_copy(source: Path, destination: Path, *, standalone: bool = False) -> None:
    """Copy a SQLite database page by page with the backup API (a consistent snapshot).

    A `standalone` copy (a backup file) is switched to the rollback journal, so it is one
    self-contained file whatever journal mode the source used.
    """
    try:
        with (
            closing(sqlite3.connect(source)) as reader,
            closing(sqlite3.connect(destination)) as writer,
        ):
            checked = reader.execute("PRAGMA quick_check").fetchone()
            if not checked or checked[0] != "ok":
                raise CommandError(f"{source} is damaged: {checked[0] if checked else '?'}")
            reader.backup(writer)
            if standalone:
                writer.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise CommandError(f"copying {source} to {destination} failed: {exc}") from exc


def _write_atomically(file: Path, write: Callable[[Path], None]) -> None:
    descriptor, name = tempfile.mkstemp(prefix=f".{file.name}.", dir=file.parent)
    os.close(descriptor)
    partial = Path(name)
    try:
        write(partial)
        partial.replace(file)
    finally:
        partial.unlink(missing_ok=True)
