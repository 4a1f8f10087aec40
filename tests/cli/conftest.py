"""Fixtures for the command line: a project directory, a runner, private databases."""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from orm_core.connecting import own_engine

POSTGRES_URL = os.environ.get(
    "ORM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("ORM_REQUIRE_POSTGRES") == "1"
ORM = Path(sys.executable).with_name("orm")
ROOT = Path(__file__).resolve().parents[2]
SETTINGS_ENV = ("DATABASE_URL", "ORM_MODELS", "ORM_MIGRATIONS")

RunOrm = Callable[..., subprocess.CompletedProcess[str]]
Cli = Callable[..., Result]


async def _admin(sql: str) -> None:
    dsn = (
        make_url(POSTGRES_URL)
        .set(drivername="postgresql", query={})
        .render_as_string(hide_password=False)
    )
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _private_postgres() -> Iterator[str]:
    name = f"orm_cli_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL}")
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_db() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    yield from _private_postgres()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend: a SQLite file, or a private PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    else:
        yield from _private_postgres()


def _absent_postgres() -> Iterator[str]:
    name = f"orm_cli_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin("SELECT 1"))
    except Exception as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL}")
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def absent_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of each backend that does not exist yet (dropped afterwards if made)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'made' / 'new.db'}"
    else:
        yield from _absent_postgres()


def database_exists(url: str) -> bool:
    """Tell whether the database of `url` exists (the SQLite file, or the PostgreSQL database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return Path(str(parsed.database)).is_file()

    async def look() -> bool:
        dsn = make_url(POSTGRES_URL).set(drivername="postgresql", query={})
        conn = await asyncpg.connect(dsn.render_as_string(hide_password=False), timeout=5)
        try:
            found = await conn.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", parsed.database
            )
        finally:
            await conn.close()
        return found is not None

    return asyncio.run(look())


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory, made the working directory, with no orm settings around."""
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def run_orm(project: Path) -> RunOrm:
    """Run the installed `orm` script in the project directory."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV}
    # the script runs this checkout's packages, wherever the venv's editable install points
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))

    def run(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ORM), *args],
            cwd=project,
            env={**env, **extra_env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


@pytest.fixture
def cli(
    project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Cli:
    """Invoke the `orm` application in-process; project modules are re-imported each time.

    Models imported in-process must use their own DeclarativeBase, never
    `orm_core.Base`, whose metadata the rest of the test suite shares.
    """
    from orm_repositories.cli.commands import app

    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(sys, "path", list(sys.path))
    temporary = tmp_path_factory.getbasetemp()
    runner = CliRunner()

    def invoke(*args: str, **env: str) -> Result:
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if file and Path(file).is_relative_to(temporary):
                del sys.modules[name]
        importlib.invalidate_caches()
        return runner.invoke(app, list(args), env=env)

    return invoke


def table_columns(url: str) -> dict[str, dict[str, dict[str, object]]]:
    """Return {table: {column: reflected column}} for every table of the database."""

    def reflect(sync_conn: object) -> dict[str, dict[str, dict[str, object]]]:
        inspector = inspect(sync_conn)
        return {
            table: {c["name"]: dict(c) for c in inspector.get_columns(table)}
            for table in inspector.get_table_names()
        }

    async def read() -> dict[str, dict[str, dict[str, object]]]:
        engine = own_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(reflect)
        finally:
            await engine.dispose()

    return asyncio.run(read())
