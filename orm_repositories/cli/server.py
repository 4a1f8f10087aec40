"""Create, drop and look into whole databases: PostgreSQL through its server, SQLite as a file."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing, contextmanager

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection

from orm_core.connecting import own_engine
from orm_core.errors import DatabaseUnavailableError, OrmError
from orm_core.migrations.errors import first_line
from orm_core.translate import driver_error, sqlstate_of, translate
from orm_repositories.cli.target import CommandError, DatabaseTarget

# Where CREATE and DROP DATABASE run: a database that is not the target itself.
MAINTENANCE_DATABASES = ("postgres", "template1")
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
UNKNOWN_DATABASE = "3D000"
AUTHORIZATION_CLASS = "28"  # an unknown role, a wrong password
DUPLICATE_DATABASE = "42P04"
DATABASE_IN_USE = "55006"

_USER_OBJECTS = """
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
"""


@contextmanager
def reaching(target: DatabaseTarget, doing: str) -> Iterator[None]:
    """Turn driver errors into one-line `OrmError`s that name the database, never its password.

    Raises:
        DatabaseUnavailableError: the server or the database cannot be reached.
        CommandError: any other database error while `doing`.
    """
    try:
        yield
    except OrmError:
        raise
    except Exception as exc:
        reason = first_line(driver_error(exc) or exc)
        if target.url.password:
            reason = reason.replace(target.url.password, "***")
        state = sqlstate_of(exc) or ""
        if (
            state == UNKNOWN_DATABASE
            or state.startswith(AUTHORIZATION_CLASS)
            or isinstance(translate(exc), DatabaseUnavailableError)
        ):
            raise DatabaseUnavailableError(
                f"cannot connect to the database at {target.masked}: {reason}"
            ) from exc
        raise CommandError(f"{doing} failed on {target.masked}: {reason}") from exc


@asynccontextmanager
async def connect(url: URL) -> AsyncIterator[AsyncConnection]:
    """Open one connection on an engine of its own (no pool, no framework pragmas)."""
    engine = own_engine(url)
    try:
        async with engine.connect() as conn:
            yield conn
    finally:
        await engine.dispose()


@asynccontextmanager
async def maintenance(target: DatabaseTarget) -> AsyncIterator[AsyncConnection]:
    """Connect to the server's maintenance database, outside any transaction."""
    candidates = [name for name in MAINTENANCE_DATABASES if name != target.name]
    for index, name in enumerate(candidates):
        engine = own_engine(target.on(name), isolation_level="AUTOCOMMIT")
        try:
            conn = await engine.connect()
        except Exception as exc:
            await engine.dispose()
            if index < len(candidates) - 1 and sqlstate_of(exc) == UNKNOWN_DATABASE:
                continue  # a server without a `postgres` database: try the next one
            raise
        try:
            yield conn
        finally:
            await conn.close()
            await engine.dispose()
        return


async def exists(target: DatabaseTarget) -> bool:
    """Tell whether the database exists.

    Raises:
        DatabaseUnavailableError: the server cannot be reached.
    """
    if target.is_sqlite:
        return target.path.is_file()
    # asked of the database itself, so a role that may connect to nothing else can ask
    with reaching(target, "looking up the database"):
        try:
            async with connect(target.url):
                return True
        except Exception as exc:
            if sqlstate_of(exc) == UNKNOWN_DATABASE:
                return False
            raise


async def create(target: DatabaseTarget) -> bool:
    """Create the database; return False when it already existed (nothing is changed then).

    Raises:
        DatabaseUnavailableError: the server cannot be reached.
        CommandError: the server refused (no CREATEDB privilege, a bad name).
    """
    if target.is_sqlite:
        if target.path.exists():
            return False
        try:
            target.path.parent.mkdir(parents=True, exist_ok=True)
            sqlite3.connect(target.path).close()
        except (OSError, sqlite3.Error) as exc:
            raise CommandError(f"cannot create {target.path}: {exc}") from exc
        return True
    if await exists(target):
        return False
    with reaching(target, "CREATE DATABASE"):
        async with maintenance(target) as conn:
            quoted = conn.dialect.identifier_preparer.quote(target.name)
            try:
                await conn.execute(text(f"CREATE DATABASE {quoted}"))
            except Exception as exc:
                if sqlstate_of(exc) == DUPLICATE_DATABASE:  # created meanwhile by someone else
                    return False
                raise
    return True


async def drop(target: DatabaseTarget, *, force: bool = False) -> bool:
    """Drop the database; return False when it did not exist.

    `force` ends the other sessions connected to it first (PostgreSQL 13 and later).

    Raises:
        DatabaseUnavailableError: the server cannot be reached.
        CommandError: the database is in use (without `force`) or the server refused.
    """
    if target.is_sqlite:
        return _remove_sqlite(target)
    if not await exists(target):
        return False
    with reaching(target, "DROP DATABASE"):
        async with maintenance(target) as conn:
            quoted = conn.dialect.identifier_preparer.quote(target.name)
            statement = f"DROP DATABASE IF EXISTS {quoted}" + (" WITH (FORCE)" if force else "")
            try:
                await conn.execute(text(statement))
            except Exception as exc:
                if sqlstate_of(exc) == DATABASE_IN_USE:
                    raise CommandError(
                        f"database {target.name} is in use by other sessions: "
                        "stop them, or pass --force to end them"
                    ) from exc
                raise
    return True


async def rename(target: DatabaseTarget, name: str) -> None:
    """Rename the database (PostgreSQL; nobody may be connected to it).

    Raises:
        DatabaseUnavailableError: the server cannot be reached.
        CommandError: the server refused.
    """
    with reaching(target, "ALTER DATABASE … RENAME"):
        async with maintenance(target) as conn:
            quote = conn.dialect.identifier_preparer.quote
            await conn.execute(text(f"ALTER DATABASE {quote(target.name)} RENAME TO {quote(name)}"))


async def user_objects(target: DatabaseTarget) -> int:
    """Count the tables, views and sequences the database holds (0: it is empty).

    Raises:
        DatabaseUnavailableError: the database cannot be reached.
    """
    if target.is_sqlite:
        if not target.path.is_file():
            return 0
        with reaching(target, "reading the schema"), closing(sqlite3.connect(target.path)) as conn:
            row = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
            ).fetchone()
        return int(row[0]) if row else 0
    with reaching(target, "reading the schema"):
        async with connect(target.url) as conn:
            return int(await conn.scalar(text(_USER_OBJECTS)) or 0)


async def server_version(target: DatabaseTarget) -> int:
    """Return the PostgreSQL server's major version, read through the target database.

    Raises:
        DatabaseUnavailableError: the database cannot be reached.
    """
    with reaching(target, "reading the server version"):
        async with connect(target.url) as conn:
            number = await conn.scalar(text("SHOW server_version_num"))
    return int(str(number)) // 10_000


def _remove_sqlite(target: DatabaseTarget) -> bool:
    if not target.path.exists():
        return False
    try:
        target.path.unlink()
        for suffix in SQLITE_COMPANIONS:
            target.path.with_name(target.path.name + suffix).unlink(missing_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot delete {target.path}: {exc}") from exc
    return True
