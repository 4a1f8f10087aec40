"""Find the database URL, the models and the migrations directory of a project.

Each setting comes from an explicit value, else an environment variable, else the
`[tool.orm]` table of the working directory's pyproject.toml.
"""

from __future__ import annotations

import importlib
import os
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from orm_core.migrations.errors import MigrationError

URL_ENV = "DATABASE_URL"
MODELS_ENV = "ORM_MODELS"
DIRECTORY_ENV = "ORM_MIGRATIONS"
DEFAULT_DIRECTORY = "migrations"


def project_settings(cwd: Path | None = None) -> dict[str, Any]:
    """Return the `[tool.orm]` table of `cwd`'s pyproject.toml (empty when absent).

    Raises:
        MigrationError: the pyproject.toml is not valid TOML.
    """
    path = (cwd or Path.cwd()) / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MigrationError(f"cannot read {path}: {exc}") from exc
    table = data.get("tool", {}).get("orm", {})
    return table if isinstance(table, dict) else {}


def _setting(explicit: str | None, env: str, key: str) -> str | None:
    if explicit:
        return explicit
    if os.environ.get(env):
        return os.environ[env]
    value = project_settings().get(key)
    return str(value) if value else None


def resolve_url(explicit: str | None = None) -> str:
    """Return the database URL: `explicit`, else DATABASE_URL, else `[tool.orm] url`.

    Raises:
        MigrationError: no URL is configured anywhere.
    """
    url = _setting(explicit, URL_ENV, "url")
    if url is None:
        raise MigrationError(
            f"no database URL: pass --url, set {URL_ENV}, "
            "or set url under [tool.orm] in pyproject.toml"
        )
    return url


def resolve_models(explicit: str | None = None) -> str:
    """Return the models reference `module:attr` from the option, ORM_MODELS or `[tool.orm]`.

    Raises:
        MigrationError: no models reference is configured anywhere.
    """
    models = _setting(explicit, MODELS_ENV, "models")
    if models is None:
        raise MigrationError(
            f"no models: pass --models module:attr, set {MODELS_ENV}, "
            "or set models under [tool.orm] in pyproject.toml"
        )
    return models


def resolve_directory(explicit: str | Path | None = None) -> Path:
    """Return the migrations dir: option, ORM_MIGRATIONS, `[tool.orm] migrations`, ./migrations."""
    directory = _setting(str(explicit) if explicit else None, DIRECTORY_ENV, "migrations")
    return Path(directory or DEFAULT_DIRECTORY)


def import_target(reference: str) -> tuple[ModuleType, Any]:
    """Import `module:attr` and return the module and the object `attr` names.

    The working directory is importable, as it is for `python -m`.

    Raises:
        MigrationError: bad syntax, a module that cannot be imported, or a missing attribute.
    """
    module_name, sep, attr = reference.partition(":")
    if not sep or not module_name or not attr:
        raise MigrationError(
            f"bad models reference {reference!r}: expected module:attr, e.g. app.models:Base"
        )
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MigrationError(f"cannot import models module {module_name!r}: {exc}") from exc
    except Exception as exc:
        raise MigrationError(
            f"importing models module {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise MigrationError(f"models module {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    return module, target


def metadata_of(target: Any, label: str = "models") -> MetaData:
    """Return the MetaData of a `DeclarativeBase` subclass, or `target` if it is one.

    Raises:
        MigrationError: `target` is neither.
    """
    if isinstance(target, MetaData):
        return target
    if isinstance(target, type) and issubclass(target, DeclarativeBase):
        return target.metadata
    raise MigrationError(f"{label} is neither a DeclarativeBase subclass nor a MetaData")


def load_metadata(reference: str) -> MetaData:
    """Import `module:attr` and return its MetaData.

    `attr` names a `DeclarativeBase` subclass or a `MetaData`.

    Raises:
        MigrationError: the reference cannot be resolved.
    """
    return metadata_of(import_target(reference)[1], reference)
