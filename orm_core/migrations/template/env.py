"""Alembic environment for an async SQLAlchemy engine (written by `orm db init`).

The `orm` command line and `MigrationManager` pass the database URL and the
models' MetaData in; under plain `alembic` they come from DATABASE_URL,
ORM_MODELS or `[tool.orm]` in pyproject.toml.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from orm_core.migrations.environment import render_item, run_coroutine, target_settings

config = context.config
url, target_metadata = target_settings(config)


def configure(**options: Any) -> None:
    """Configure the migration context the same way online and offline."""
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=False,
        render_item=render_item,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=url.startswith("sqlite"),
        **options,
    )


def run_migrations_offline() -> None:
    """Emit the migration SQL as a script (`--sql`), without a connection."""
    configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    """Run the migrations on a synchronous view of the async connection."""
    configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """Open an async engine and run the migrations through `run_sync`."""
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    """Use the connection handed in by `MigrationManager.upgrade_on`, else open an engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
    else:
        run_coroutine(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
