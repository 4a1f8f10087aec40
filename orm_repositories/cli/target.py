"""The database a lifecycle command acts on: a PostgreSQL database or a SQLite file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from orm_core.errors import OrmError

SQLITE_MEMORY = ("", ":memory:")
# libpq's names for the sslmode values asyncpg also accepts as `?ssl=` or `?sslmode=`.
SSL_MODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})


class CommandError(OrmError):
    """A lifecycle command cannot do what it was asked (bad target, missing tool, refusal)."""


@dataclass(frozen=True)
class DatabaseTarget:
    """One database named by a URL, with what each backend's commands need to reach it."""

    url: URL

    @property
    def backend(self) -> str:
        """`postgresql` or `sqlite`."""
        return self.url.get_backend_name()

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is a SQLite file."""
        return self.backend == "sqlite"

    @property
    def name(self) -> str:
        """The database name (PostgreSQL) or the file path (SQLite), for messages."""
        return str(self.path) if self.is_sqlite else str(self.url.database)

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return Path(str(self.url.database))

    @property
    def masked(self) -> str:
        """The URL with its password hidden, the only form ever printed."""
        return self.url.render_as_string(hide_password=True)

    def on(self, database: str) -> URL:
        """The same server and credentials, on another database (PostgreSQL)."""
        return self.url.set(database=database)

    def libpq_environment(self) -> dict[str, str]:
        """The environment that lets pg_dump and pg_restore reach the database.

        Every setting travels in PG* variables, so nothing of the URL, the password
        least of all, shows on a command line.
        """
        environ = dict(os.environ)
        query = self.url.query
        settings = {
            "PGHOST": self.url.host or _first(query.get("host")),
            "PGPORT": str(self.url.port) if self.url.port else _first(query.get("port")),
            "PGUSER": self.url.username,
            "PGPASSWORD": self.url.password,
            "PGDATABASE": self.url.database,
        }
        ssl = _first(query.get("sslmode") or query.get("ssl"))
        if ssl in SSL_MODES:
            settings["PGSSLMODE"] = ssl
        environ.update({key: str(value) for key, value in settings.items() if value})
        return environ


def target_of(url: str, command: str) -> DatabaseTarget:
    """Parse `url` into the target of `orm db COMMAND`.

    Raises:
        CommandError: a bad URL, a backend other than PostgreSQL or SQLite, an
            in-memory SQLite database, or a PostgreSQL URL without a database name.
    """
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError as exc:
        raise CommandError(f"bad database URL {url!r}: {exc}") from exc
    target = DatabaseTarget(parsed)
    if target.backend not in ("postgresql", "sqlite"):
        raise CommandError(f"orm db {command} supports PostgreSQL and SQLite, not {target.backend}")
    if target.is_sqlite and (parsed.database or "") in SQLITE_MEMORY:
        raise CommandError(f"orm db {command} needs a SQLite file, not an in-memory database")
    if not target.is_sqlite and not parsed.database:
        raise CommandError(f"the database URL {target.masked} names no database")
    return target


def _first(value: str | tuple[str, ...] | None) -> str | None:
    if isinstance(value, tuple):
        return value[0] if value else None
    return value
