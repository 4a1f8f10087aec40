"""The Alembic environment: what a project's generated `env.py` runs in one call.

`run_migrations()` configures Alembic's context (target metadata, type comparison,
batch mode on SQLite, framework types rendered as plain SQLAlchemy types) and runs
the migrations offline (`--sql`) or online: on the connection `MigrationManager`
hands in, else on an async engine of its own.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

from alembic import context
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from sqlalchemy import JSON, MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from orm_core.connecting import own_engine
from orm_core.migrations.settings import (
    MODELS_ENV,
    load_metadata,
    project_settings,
    resolve_url,
)
from orm_core.search import declared_vectors
from orm_core.types import UTCDateTime

ResultT = TypeVar("ResultT")

URL_ATTRIBUTE = "orm_url"
METADATA_ATTRIBUTE = "orm_target_metadata"
SCHEMA_ATTRIBUTE = "orm_schema"


def in_schema(connection: Connection, schema: str | None) -> Connection:
    """`connection` running every statement in `schema` (a tenant's), version table included.

    Tables declared without a schema, Alembic's `alembic_version` among them, are
    created and read in `schema`, so each tenant schema carries its own revision.
    """
    if schema is None:
        return connection
    return connection.execution_options(schema_translate_map={None: schema})


def target_settings(config: Config) -> tuple[str, MetaData | None]:
    """Return the URL and target MetaData for `env.py`.

    The `orm` command line and `MigrationManager` hand both over in
    `config.attributes`; under plain `alembic` they are resolved from
    DATABASE_URL / ORM_MODELS / `[tool.orm]`, and models stay optional
    (an upgrade needs no models, only autogenerate does).

    Raises:
        MigrationError: no URL is configured, or the models cannot be imported.
    """
    url = config.attributes.get(URL_ATTRIBUTE) or resolve_url(
        config.get_main_option("sqlalchemy.url")
    )
    metadata = config.attributes.get(METADATA_ATTRIBUTE)
    if metadata is None:
        reference = os.environ.get(MODELS_ENV) or project_settings().get("models")
        if reference:
            metadata = load_metadata(str(reference))
    return str(url), metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render framework column types as plain SQLAlchemy types in migration files.

    `UTCDateTime` becomes `sa.DateTime(timezone=True)` (`DATETIME(6)` on MySQL and
    MariaDB): the stored type is the same, and a migration file stays importable
    without this framework. A `dict`
    column (JSON, JSONB on PostgreSQL) is written out whole: Alembic's own rendering
    of the variant names `Text` without importing it.
    """
    if type_ != "type":
        return False
    if isinstance(obj, UTCDateTime):
        autogen_context.imports.add("from sqlalchemy.dialects import mysql")
        return "sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')"
    variant = getattr(obj, "_variant_mapping", {}).get("postgresql")
    if isinstance(obj, JSON) and isinstance(variant, JSONB):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        plain = "none_as_null=True" if obj.none_as_null else ""
        binary = "none_as_null=True" if variant.none_as_null else ""
        return f"sa.JSON({plain}).with_variant(postgresql.JSONB({binary}), 'postgresql')"
    return False


def _search_objects_filter(metadata: MetaData | None, url: str) -> Any:
    """Leave out of comparisons what search vectors keep beside their tables.

    On SQLite a declared search vector has an FTS5 table (and its shadow tables) that
    the models do not describe, and no index on the vector column (PostgreSQL's GIN);
    neither is a difference for autogenerate or `orm db check`.
    """
    fts_names: set[str] = set()
    vector_indexes: set[str] = set()
    for table in metadata.tables.values() if metadata is not None else ():
        for declared in declared_vectors(table):
            fts_names.add(declared.fts_name)
            vector_indexes.update(
                str(index.name)
                for index in table.indexes
                if any(c is declared.column for c in index.columns)
            )
    sqlite = url.startswith("sqlite")

    def include(obj: Any, name: str | None, type_: str, reflected: bool, _other: Any) -> bool:
        if not sqlite or name is None:
            return True
        if type_ == "table" and reflected:
            return not any(name == f or name.startswith(f"{f}_") for f in fts_names)
        return not (type_ == "index" and name in vector_indexes)

    return include


def run_coroutine(coroutine: Coroutine[Any, Any, ResultT]) -> ResultT:
    """Run `coroutine` to completion from synchronous code, even inside a running loop.

    Alembic's commands are synchronous and `env.py` starts its own event loop;
    when the caller already runs one (an async app or test), the coroutine gets a
    fresh loop in a worker thread instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="orm-migrations") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def run_migrations() -> None:
    """Run the migrations Alembic was asked for; the whole body of a generated `env.py`."""
    config = context.config
    url, metadata = target_settings(config)
    options: dict[str, Any] = {
        "target_metadata": metadata,
        "include_object": _search_objects_filter(metadata, url),
        "compare_type": True,
        "compare_server_default": False,
        "render_item": render_item,
        # SQLite cannot ALTER most things: batch mode copies the table instead
        "render_as_batch": url.startswith("sqlite"),
    }
    if context.is_offline_mode():
        context.configure(
            url=url, literal_binds=True, dialect_opts={"paramstyle": "named"}, **options
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    schema = config.attributes.get(SCHEMA_ATTRIBUTE)

    def run_on(connection: Connection) -> None:
        context.configure(
            connection=in_schema(connection, schema), version_table_schema=schema, **options
        )
        with context.begin_transaction():
            if schema is not None and connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                # Alembic writes the table of ALTER TABLE as text, out of the translate
                # map's reach: the search path sends it to the tenant's schema
                connection.exec_driver_sql(f'SET LOCAL search_path TO "{schema}"')
            context.run_migrations()

    async def run_on_own_engine() -> None:
        engine = own_engine(url)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(run_on)
        finally:
            await engine.dispose()

    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
    else:
        run_coroutine(run_on_own_engine())
