"""`OrmContainer`: the dependency-injector container holding the database and units of work."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dependency_injector import containers, providers

from orm_core import UnitOfWork
from orm_core.settings import database_defaults, database_from_settings
from orm_core.settings import settings_from_env as core_settings_from_env

DATABASE_DEFAULTS: dict[str, Any] = database_defaults()


def settings_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read database settings from `DATABASE_URL`, `DATABASE_POOL_SIZE` and friends.

    Raises:
        ValueError: a variable does not hold a value of its setting's type.
    """
    return core_settings_from_env(environ)


class OrmContainer(containers.DeclarativeContainer):
    """Hold the configuration, the `Database` singleton and the unit-of-work factory.

    Applications subclass it, override `unit_of_work` with their own class and add
    their services; tests override `database` with a database of their own.
    """

    config = providers.Configuration(default={"database": dict(DATABASE_DEFAULTS)})
    database = providers.Singleton(database_from_settings, config.database)
    unit_of_work = providers.Factory(UnitOfWork, database=database)


def configure_database(container: Any, source: Any = None, /, **values: Any) -> None:
    """Load `config.database` from a mapping, pydantic settings, keywords or the environment.

    A mapping may hold the settings themselves or a `database` key; a pydantic model
    may have a `database` sub-model or flat `database_url`-style fields. With no
    source and no keywords the environment is read (`settings_from_env`).
    """
    if source is None and not values:
        settings = settings_from_env()
    else:
        settings = {**_settings_of(source), **values}
    container.config.database.from_dict({**DATABASE_DEFAULTS, **_known(settings)})


def _settings_of(source: Any) -> dict[str, Any]:
    if source is None:
        return {}
    if hasattr(source, "model_dump"):
        data = source.model_dump()
        nested = data.get("database")
        if isinstance(nested, Mapping):
            return dict(nested)
        prefix = "database_"
        return {k.removeprefix(prefix): v for k, v in data.items() if k.startswith(prefix)}
    if isinstance(source, Mapping):
        nested = source.get("database")
        return dict(nested) if isinstance(nested, Mapping) else dict(source)
    raise TypeError(f"database settings must be a mapping or a pydantic model, not {source!r}")


def _known(settings: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(settings) - set(DATABASE_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown database settings {unknown}; known: {sorted(DATABASE_DEFAULTS)}")
    known = {key: value for key, value in settings.items() if value is not None}
    url = known.get("url")
    if url is not None and not isinstance(url, str):
        # pydantic's SecretStr / AnyUrl
        known["url"] = url.get_secret_value() if hasattr(url, "get_secret_value") else str(url)
    return known
