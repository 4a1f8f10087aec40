"""The `orm` Typer application: migrations, schema check, health and seeding under `orm db`."""

from __future__ import annotations

import typer

from orm_repositories.cli.db import db_app

app = typer.Typer(
    help="Migrations, schema checks, seeding and database lifecycle for orm-kit projects.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db_app, name="db")
