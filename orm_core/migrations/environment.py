"""Helpers the generated `env.py` uses: settings, type rendering, running a coroutine."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from sqlalchemy import MetaData

from orm_core.migrations.settings import (
    MODELS_ENV,
    load_metadata,
    project_settings,
    resolve_url,
)
from orm_core.types import UTCDateTime

ResultT = TypeVar("ResultT")

URL_ATTRIBUTE = "orm_url"
METADATA_ATTRIBUTE = "orm_target_metadata"


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

    `UTCDateTime` becomes `sa.DateTime(timezone=True)`: the stored type is the
    same, and a migration file stays importable without this framework.
    """
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


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
