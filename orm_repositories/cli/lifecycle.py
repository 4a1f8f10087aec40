"""`orm db create|drop|reset|inspect|backup|restore`: whole databases, on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from orm_core.migrations.settings import resolve_url
from orm_repositories.cli import backup as backups
from orm_repositories.cli import inspection, server
from orm_repositories.cli.common import (
    FAILURE_EXIT,
    DirectoryOption,
    ModelsOption,
    UrlOption,
    manager,
    reporting,
)
from orm_repositories.cli.target import DatabaseTarget, target_of

YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Confirm that the data may be destroyed.")
]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force", help="End other sessions connected to the database first (PostgreSQL 13+)."
    ),
]
FileArgument = Annotated[Path, typer.Argument(help="The backup file.", show_default=False)]


def create_command(
    url: UrlOption = None, models: ModelsOption = None, directory: DirectoryOption = None
) -> None:
    """Create the database (nothing to do, exit 0, when it already exists)."""
    del models, directory  # accepted like on every command
    with reporting():
        target = _target(url, "create")
        created = asyncio.run(server.create(target))
    typer.echo(
        f"created database {target.name}"
        if created
        else f"database {target.name} already exists; nothing to do"
    )


def drop_command(
    yes: YesOption = False,
    force: ForceOption = False,
    url: UrlOption = None,
    models: ModelsOption = None,
    directory: DirectoryOption = None,
) -> None:
    """Drop the database and all its data (needs --yes; exit 0 when it does not exist)."""
    del models, directory  # accepted like on every command
    with reporting():
        target = _target(url, "drop")
        _confirmed(yes, f"orm db drop deletes database {target.name} and all its data")
        dropped = asyncio.run(server.drop(target, force=force))
    typer.echo(
        f"dropped database {target.name}"
        if dropped
        else f"database {target.name} does not exist; nothing to do"
    )


def reset_command(
    yes: YesOption = False,
    force: ForceOption = False,
    url: UrlOption = None,
    models: ModelsOption = None,
    directory: DirectoryOption = None,
) -> None:
    """Drop the database, create it again and upgrade it to head (needs --yes)."""
    with reporting():
        target = _target(url, "reset")
        migrations = manager(target.url.render_as_string(hide_password=False), models, directory)
        _confirmed(yes, f"orm db reset deletes database {target.name} and all its data")
        migrations.heads()  # a missing migration environment fails before anything is dropped
        asyncio.run(server.drop(target, force=force))
        asyncio.run(server.create(target))
        migrations.upgrade("head")
        revision = migrations.current() or "base"
    typer.echo(f"reset database {target.name}: dropped, created, upgraded to {revision}")


def inspect_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    exact: Annotated[
        bool,
        typer.Option("--exact", help="Count every table's rows instead of estimating (slow)."),
    ] = False,
    url: UrlOption = None,
    models: ModelsOption = None,
    directory: DirectoryOption = None,
) -> None:
    """Print the tables, their columns and indexes, and row counts (estimates on PostgreSQL)."""
    del models, directory  # accepted like on every command
    with reporting():
        report = asyncio.run(inspection.inspect_database(_target(url, "inspect"), exact=exact))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo("\n".join(inspection.render(report)))


def backup_command(
    file: FileArgument,
    url: UrlOption = None,
    models: ModelsOption = None,
    directory: DirectoryOption = None,
) -> None:
    """Write the whole database to FILE (pg_dump custom format, or a SQLite database file)."""
    del models, directory  # accepted like on every command
    with reporting():
        target = _target(url, "backup")
        asyncio.run(backups.backup(target, file))
    typer.echo(f"backed up database {target.name} to {file} ({_size(file)})")


def restore_command(
    file: FileArgument,
    clean: Annotated[
        bool,
        typer.Option("--clean", help="Replace a database that is not empty (needs --yes)."),
    ] = False,
    yes: YesOption = False,
    force: ForceOption = False,
    url: UrlOption = None,
    models: ModelsOption = None,
    directory: DirectoryOption = None,
) -> None:
    """Restore FILE, written by `orm db backup`, into the database (created when missing)."""
    del models, directory  # accepted like on every command
    with reporting():
        target = _target(url, "restore")
        if clean:
            _confirmed(yes, f"orm db restore --clean replaces everything in {target.name}")
        asyncio.run(backups.restore(target, file, clean=clean, force=force))
    typer.echo(f"restored {file} into database {target.name}")


def _target(url: str | None, command: str) -> DatabaseTarget:
    return target_of(resolve_url(url), command)


def _confirmed(yes: bool, consequence: str) -> None:
    if not yes:
        typer.echo(f"error: {consequence}; pass --yes to confirm", err=True)
        raise typer.Exit(FAILURE_EXIT)


def _size(file: Path) -> str:
    size = file.stat().st_size
    if size < 1024:
        return f"{size} bytes"
    return f"{size / 1024:,.1f} KiB" if size < 1024**2 else f"{size / 1024**2:,.1f} MiB"
