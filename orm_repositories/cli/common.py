"""Options shared by the `orm` commands, and the one place failures are reported."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import click
import typer

from orm_core import Database, InvalidQueryError
from orm_core.errors import OrmError
from orm_core.migrations import MigrationManager
from orm_core.migrations.settings import resolve_directory, resolve_models, resolve_url
from orm_core.settings import database_from_settings, parse_setting, settings_from_env

# `diff` convention: 1 means "differs" (check) or "unhealthy" (health), 2 means trouble.
FAILURE_EXIT = 2

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url", help="Database URL (else DATABASE_URL, else \\[tool.orm] url).", show_default=False
    ),
]
ModelsOption = Annotated[
    str | None,
    typer.Option(
        "--models",
        help="Models as module:attr, a DeclarativeBase subclass or a MetaData "
        "(else ORM_MODELS, else \\[tool.orm] models).",
        show_default=False,
    ),
]
SchemasOption = Annotated[
    list[str] | None,
    typer.Option(
        "--schema",
        help="A tenant schema to run in (PostgreSQL, schema per tenant); repeat for several.",
    ),
]
DatabaseOptions = Annotated[
    list[str] | None,
    typer.Option(
        "--db-option",
        help="A Database setting as KEY=VALUE (statement_timeout=5, pgbouncer=true, ...); "
        "repeat for several. Else the DATABASE_* environment variables.",
        show_default=False,
    ),
]
DirectoryOption = Annotated[
    Path | None,
    typer.Option(
        "--directory", "-d",
        help="Migrations directory "
        "(else ORM_MIGRATIONS, else \\[tool.orm] migrations, else ./migrations).",
        show_default=False,
    ),
]  # fmt: skip


def fail(message: str) -> NoReturn:
    """Print `message` as one line on stderr and exit with the failure code."""
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(FAILURE_EXIT)


@contextmanager
def reporting() -> Iterator[None]:
    """Turn any error into one line on stderr and a non-zero exit, never a traceback."""
    try:
        yield
    except (typer.Exit, click.exceptions.Exit, click.ClickException, click.Abort):
        raise
    except OrmError as exc:
        fail(exc.message)
    except KeyboardInterrupt:
        fail("interrupted")
    except Exception as exc:
        fail(f"{type(exc).__name__}: {exc}")


def manager(
    url: str | None,
    models: str | None,
    directory: Path | None,
    *,
    needs_models: bool = False,
    schema: str | None = None,
) -> MigrationManager:
    """Build a `MigrationManager` from options, environment and pyproject settings.

    Raises:
        MigrationError: no URL, or no models when `needs_models` is set.
    """
    reference = resolve_models(models) if needs_models else _optional_models(models)
    return MigrationManager(
        resolve_url(url), reference, resolve_directory(directory), schema=schema
    )


def _optional_models(models: str | None) -> str | None:
    try:
        return resolve_models(models)
    except OrmError:
        return None


def open_database(url: str | None, options: list[str] | None = None) -> Database:
    """A `Database` for `url` with the environment's settings and `--db-option KEY=VALUE`s.

    Raises:
        InvalidQueryError: an option without `=`, an unknown setting or a bad value.
    """
    settings = settings_from_env()
    for option in options or []:
        key, sep, raw = option.partition("=")
        if not sep:
            raise InvalidQueryError(f"--db-option {option!r} is not KEY=VALUE")
        settings[key.strip()] = parse_setting(key.strip(), raw)
    settings["url"] = resolve_url(url)
    return database_from_settings(settings)
