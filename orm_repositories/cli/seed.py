"""`orm db seed MODEL --count N [--truncate]`: fake rows through `bulk_create`."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy.orm import DeclarativeBase

from orm_core import Database
from orm_core.migrations import MigrationError
from orm_core.migrations.settings import import_target, resolve_models
from orm_repositories.cli.common import (
    DatabaseOptions,
    DirectoryOption,
    ModelsOption,
    UrlOption,
    fail,
    open_database,
    reporting,
)
from orm_repositories.repository import DEFAULT_BATCH_SIZE

if TYPE_CHECKING:
    from orm_repositories.factories import ModelFactory


def seed_command(
    model: Annotated[str, typer.Argument(help="Model class name in the models module.")],
    count: Annotated[int, typer.Option("--count", "-n", min=0, help="Rows to insert.")] = 100,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Rows per bulk insert.")
    ] = DEFAULT_BATCH_SIZE,
    random_seed: Annotated[
        int | None,
        typer.Option("--seed", help="Seed for reproducible fake values.", show_default=False),
    ] = None,
    truncate: Annotated[
        bool,
        typer.Option("--truncate", help="Delete the table's rows first (same transaction)."),
    ] = False,
    url: UrlOption = None,
    models: ModelsOption = None,
    directory: DirectoryOption = None,
    db_options: DatabaseOptions = None,
) -> None:
    """Insert COUNT rows of fake data into MODEL's table (one transaction)."""
    del directory  # accepted like on every command
    try:
        from orm_repositories.factories import ModelFactory  # Faker loads only when seeding
    except ModuleNotFoundError as exc:
        fail(f'orm db seed needs Faker ({exc.name} is missing): pip install "orm-kit[seed]"')
    with reporting():
        model_class = find_model(resolve_models(models), model)
        database = open_database(url, db_options)
        factory = ModelFactory.for_model(model_class)(seed=random_seed)
        started = time.perf_counter()
        inserted = asyncio.run(
            _seed_with_progress(database, factory, count, batch_size, truncate=truncate)
        )
        elapsed = time.perf_counter() - started
    rate = inserted / elapsed if elapsed > 0 else 0.0
    emptied = f"emptied {model_class.__tablename__}, " if truncate else ""
    typer.echo(f"{emptied}inserted {inserted} {model} rows in {elapsed:.2f} s ({rate:,.0f} rows/s)")


def find_model(reference: str, name: str) -> type[Any]:
    """Return the mapped class called `name` from the models module or its registry.

    Raises:
        MigrationError: no mapped class of that name exists.
    """
    module, target = import_target(reference)
    candidate = getattr(module, name, None)
    if isinstance(candidate, type) and hasattr(candidate, "__mapper__"):
        return candidate
    known: list[str] = []
    if isinstance(target, type) and issubclass(target, DeclarativeBase):
        for mapper in target.registry.mappers:
            if mapper.class_.__name__ == name:
                return mapper.class_
            known.append(mapper.class_.__name__)
    known += [
        n for n, v in vars(module).items() if isinstance(v, type) and hasattr(v, "__mapper__")
    ]
    listed = ", ".join(sorted(set(known))) or "none found"
    raise MigrationError(f"no model named {name!r} in {reference} (models: {listed})")


async def _seed_with_progress(
    database: Database,
    factory: ModelFactory[Any],
    count: int,
    batch_size: int,
    *,
    truncate: bool,
) -> int:
    from orm_repositories.seeding import seed

    progress = Progress(
        TextColumn("seeding {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    task = progress.add_task(factory.model.__name__, total=count)

    def advance(done: int) -> None:
        # Shown from the first finished batch on, so an early failure prints only its error.
        progress.start()
        progress.advance(task, done)

    try:
        return await seed(
            database, factory.model, count, factory=factory, batch_size=batch_size,
            progress=advance, truncate=truncate,
        )  # fmt: skip
    finally:
        if progress.live.is_started:
            progress.stop()
        await database.dispose()
