"""Every `Database` option by name, with the environment variable that sets it.

One table serves the three ways of configuring a database: keyword arguments,
`configure_database` (FastAPI), the environment (`DATABASE_URL`, `DATABASE_POOL_SIZE`,
`DATABASE_STATEMENT_TIMEOUT`, ...) and the `orm` command line (`--db-option`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orm_core.circuit_breaker import CircuitBreaker
from orm_core.database import Database
from orm_core.errors import InvalidQueryError


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"{raw!r} is not a yes/no value")


def _json_object(raw: str) -> dict[str, Any]:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value
def _url_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class Setting:
    """One `Database` option: its keyword, environment variable, parser and default."""

    key: str
    variable: str
    parse: Callable[[str], Any]
    default: Any = None


DATABASE_SETTINGS: tuple[Setting, ...] = (
    Setting("url", "DATABASE_URL", str),
    Setting("echo", "DATABASE_ECHO", _flag, False),
    Setting("pool_size", "DATABASE_POOL_SIZE", int),
    Setting("max_overflow", "DATABASE_MAX_OVERFLOW", int),
    Setting("pool_timeout", "DATABASE_POOL_TIMEOUT", float, 30.0),
    Setting("statement_timeout", "DATABASE_STATEMENT_TIMEOUT", float),
    Setting("lock_timeout", "DATABASE_LOCK_TIMEOUT", float),
    Setting("pgbouncer", "DATABASE_PGBOUNCER", _flag),
    Setting("connect_retries", "DATABASE_CONNECT_RETRIES", int),
    Setting("circuit_breaker", "DATABASE_CIRCUIT_BREAKER", CircuitBreaker.parse),
    Setting("slow_query_ms", "DATABASE_SLOW_QUERY_MS", float),
    Setting("connect_args", "DATABASE_CONNECT_ARGS", _json_object),
    # read replicas: comma-separated standby URLs (orm_core.replicas)
    Setting("replicas", "DATABASE_REPLICAS", _url_list, ()),
    Setting("replica_backoff", "DATABASE_REPLICA_BACKOFF", float, 30.0),
)
SETTINGS_BY_KEY: dict[str, Setting] = {s.key: s for s in DATABASE_SETTINGS}


def database_defaults() -> dict[str, Any]:
    """Every setting with its default value."""
    return {s.key: s.default for s in DATABASE_SETTINGS}


def parse_setting(key: str, raw: str) -> Any:
    """The value of setting `key` written as text (an environment variable, a CLI option).

    Raises:
        InvalidQueryError: an unknown setting, or text that is not a value of its type.
    """
    setting = SETTINGS_BY_KEY.get(key)
    if setting is None:
        raise InvalidQueryError(
            f"unknown database setting {key!r}", {"known": sorted(SETTINGS_BY_KEY)}
        )
    try:
        return setting.parse(raw)
    except ValueError as exc:
        raise InvalidQueryError(f"{setting.variable}={raw!r} is not valid for {key}") from exc


def settings_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The database settings the environment sets (`DATABASE_URL` and friends).

    Raises:
        InvalidQueryError: a variable whose text is not a value of its setting's type.
    """
    environ = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    for setting in DATABASE_SETTINGS:
        raw = environ.get(setting.variable)
        if raw is not None and raw != "":
            found[setting.key] = parse_setting(setting.key, raw)
    return found


def database_from_settings(settings: Mapping[str, Any] | None) -> Database:
    """Build a `Database` from settings by name (unset and None ones take their defaults).

    Raises:
        InvalidQueryError: an unknown setting, or no URL.
    """
    given = {k: v for k, v in (settings or {}).items() if v is not None}
    unknown = sorted(set(given) - set(SETTINGS_BY_KEY))
    if unknown:
        raise InvalidQueryError(
            f"unknown database settings {unknown}", {"known": sorted(SETTINGS_BY_KEY)}
        )
    options = {k: v for k, v in {**database_defaults(), **given}.items() if v is not None}
    url = options.pop("url", None)
    if not url:
        raise InvalidQueryError(
            "no database URL configured: set config.database.url or the DATABASE_URL variable"
        )
    return Database(url, **options)
