"""`MigrationError` and the one place Alembic and driver errors become `OrmError`s."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic.script.revision import RevisionError
from alembic.util.exc import CommandError
from sqlalchemy.engine import URL

from orm_core.errors import DatabaseUnavailableError, OrmError
from orm_core.translate import driver_error, translate


class MigrationError(OrmError):
    """A migration command failed: bad settings, an unknown revision, a failing script."""


@contextmanager
def translating(url: URL | None) -> Iterator[None]:
    """Turn Alembic, SQLAlchemy and driver errors into one-line `OrmError`s.

    Raises:
        MigrationError: for anything but an unreachable database.
        DatabaseUnavailableError: the database at `url` cannot be reached.
    """
    try:
        yield
    except OrmError:
        raise
    except (CommandError, RevisionError) as exc:
        raise MigrationError(first_line(exc)) from exc
    except Exception as exc:
        where = url.render_as_string(hide_password=True) if url is not None else "(no URL)"
        reason = first_line(driver_error(exc) or exc)
        if isinstance(translate(exc), DatabaseUnavailableError):
            raise DatabaseUnavailableError(
                f"cannot connect to the database at {where}: {reason}"
            ) from exc
        raise MigrationError(
            f"migration failed on {where}: {type(exc).__name__}: {reason}"
        ) from exc


def first_line(exc: BaseException) -> str:
    """Return the first line of an exception's message (its class name when empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
