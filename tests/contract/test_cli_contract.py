"""The `orm` command line contract, exercised through the installed console script."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get(
    "ORM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
ORM = str(Path(sys.executable).with_name("orm"))
UNREACHABLE_URL = "postgresql+asyncpg://app:s3cret-pw@127.0.0.1:1/nowhere"

MODELS = """
from sqlalchemy import MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "contract_api_cli_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
{extra}

metadata = Base.metadata
"""
EXTRA_COLUMN = "    colour: Mapped[str | None] = mapped_column(String(20))\n"


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


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
        return
    name = f"contract_api_cli_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception:
        pytest.skip("PostgreSQL unreachable")
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    write_models(root)
    return root


def write_models(root: Path, extra: str = "") -> None:
    (root / "appmodels.py").write_text(MODELS.format(extra=extra), encoding="utf-8")


def orm(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "ORM_MODELS", "ORM_MIGRATIONS", "PYTHONPATH"}
    }
    environ.update(env)
    return subprocess.run(
        [ORM, *args], cwd=project, env=environ, capture_output=True, text=True, timeout=120
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    return result


def failed(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip(), "a failure explains itself on stderr"
    return result.stderr


def migrate(project: Path, url: str, models: str = "appmodels:Base") -> str:
    """Init, autogenerate the first revision and upgrade; return the revision id."""
    ok(orm(project, "db", "init"))
    ok(orm(project, "db", "revision", "-m", "first", "--autogenerate", "--url", url,
           "--models", models))  # fmt: skip
    ok(orm(project, "db", "upgrade", "--url", url))
    versions = [p for p in (project / "migrations" / "versions").glob("*.py")]
    assert len(versions) == 1
    current = ok(orm(project, "db", "current", "--url", url)).stdout.strip()
    assert current and current in versions[0].read_text(encoding="utf-8")
    return current


def test_the_console_script_is_installed() -> None:
    result = subprocess.run([ORM, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "db" in result.stdout


def test_a_full_migration_cycle_with_options_after_the_command(project: Path, db_url: str) -> None:
    revision = migrate(project, db_url)
    assert ok(orm(project, "db", "check", "--url", db_url, "--models", "appmodels:Base"))
    history = ok(orm(project, "db", "history")).stdout
    assert revision in history
    ok(orm(project, "db", "downgrade", "base", "--url", db_url))
    assert ok(orm(project, "db", "current", "--url", db_url)).stdout.strip() == ""
    ok(orm(project, "db", "upgrade", revision, "--url", db_url))
    assert ok(orm(project, "db", "current", "--url", db_url)).stdout.strip() == revision


def test_check_exits_1_when_models_and_database_differ(project: Path, db_url: str) -> None:
    migrate(project, db_url)
    result = orm(project, "db", "check", "--url", db_url, "--models", "appmodels:metadata")
    assert result.returncode == 0, result.stderr
    write_models(project, EXTRA_COLUMN)
    result = orm(project, "db", "check", "--url", db_url, "--models", "appmodels:metadata")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "colour" in result.stdout + result.stderr


def test_check_fails_on_an_empty_database(project: Path, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    ok(orm(project, "db", "init"))
    result = orm(project, "db", "check", "--url", url, "--models", "appmodels:Base")
    assert result.returncode == 1, result.stdout + result.stderr


def test_url_falls_back_to_database_url_then_pyproject(project: Path, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fallback.db'}"
    revision = migrate(project, url)
    by_env = orm(project, "db", "current", DATABASE_URL=url)
    assert ok(by_env).stdout.strip() == revision
    (project / "pyproject.toml").write_text(f'[tool.orm]\nurl = "{url}"\n', encoding="utf-8")
    assert ok(orm(project, "db", "current")).stdout.strip() == revision


def test_url_option_wins_over_the_environment_and_the_environment_over_pyproject(
    project: Path, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'order.db'}"
    revision = migrate(project, url)
    (project / "pyproject.toml").write_text(
        f'[tool.orm]\nurl = "{UNREACHABLE_URL}"\n', encoding="utf-8"
    )
    assert ok(orm(project, "db", "current", DATABASE_URL=url)).stdout.strip() == revision
    explicit = orm(project, "db", "current", "--url", url, DATABASE_URL=UNREACHABLE_URL)
    assert ok(explicit).stdout.strip() == revision
    failed(orm(project, "db", "current"))


def test_models_fall_back_to_orm_models_then_pyproject(project: Path, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'models.db'}"
    migrate(project, url)
    ok(orm(project, "db", "check", "--url", url, ORM_MODELS="appmodels:Base"))
    (project / "pyproject.toml").write_text(
        f'[tool.orm]\nurl = "{url}"\nmodels = "appmodels:metadata"\n', encoding="utf-8"
    )
    ok(orm(project, "db", "check"))
    write_models(project, EXTRA_COLUMN)
    assert orm(project, "db", "check").returncode == 1
    # the option wins over ORM_MODELS, which wins over pyproject
    failed(orm(project, "db", "check", ORM_MODELS="nosuchmodule:Base"))
    assert orm(project, "db", "check", "--models", "appmodels:Base",
               ORM_MODELS="nosuchmodule:Base").returncode == 1  # fmt: skip


def test_models_may_name_a_declarative_base_or_a_metadata(project: Path, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'both.db'}"
    migrate(project, url, models="appmodels:metadata")
    ok(orm(project, "db", "check", "--url", url, "--models", "appmodels:Base"))
    ok(orm(project, "db", "check", "--url", url, "--models", "appmodels:metadata"))
    stderr = failed(orm(project, "db", "check", "--url", url, "--models", "appmodels:String"))
    assert "MetaData" in stderr


def test_an_unknown_revision_fails_cleanly(project: Path, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'unknown.db'}"
    migrate(project, url)
    stderr = failed(orm(project, "db", "upgrade", "deadbeef1234", "--url", url))
    assert "deadbeef1234" in stderr
    failed(orm(project, "db", "downgrade", "deadbeef1234", "--url", url))


@pytest.mark.parametrize(
    "command",
    [
        ("db", "current"),
        ("db", "upgrade"),
        ("db", "check", "--models", "appmodels:Base"),
    ],
)
def test_an_unreachable_database_fails_cleanly(project: Path, command: tuple[str, ...]) -> None:
    ok(orm(project, "db", "init"))
    stderr = failed(orm(project, *command, "--url", UNREACHABLE_URL))
    assert "s3cret-pw" not in stderr


def test_health_reports_an_unreachable_database_without_traceback(project: Path) -> None:
    result = orm(project, "db", "health", "--url", UNREACHABLE_URL)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert "s3cret-pw" not in result.stderr + result.stdout


def test_a_missing_models_module_fails_cleanly(project: Path, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}"
    ok(orm(project, "db", "init"))
    stderr = failed(orm(project, "db", "check", "--url", url, "--models", "nosuchmodule:Base"))
    assert "nosuchmodule" in stderr
    failed(orm(project, "db", "revision", "-m", "x", "--autogenerate", "--url", url,
               "--models", "nosuchmodule:Base"))  # fmt: skip
    failed(orm(project, "db", "check", "--url", url, "--models", "appmodels:Nothing"))


def test_missing_settings_fail_cleanly(project: Path) -> None:
    ok(orm(project, "db", "init"))
    stderr = failed(orm(project, "db", "current"))
    assert "DATABASE_URL" in stderr or "--url" in stderr
    failed(orm(project, "db", "check", "--url", "sqlite+aiosqlite:///:memory:"))


def test_every_command_accepts_url_and_models_after_it(project: Path, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'uniform.db'}"
    revision = migrate(project, url)
    both = ("--url", url, "--models", "appmodels:Base")
    assert ok(orm(project, "db", "current", *both)).stdout.strip() == revision
    assert revision in ok(orm(project, "db", "history", *both)).stdout
    ok(orm(project, "db", "check", *both))
    assert '"healthy"' in ok(orm(project, "db", "health", *both)).stdout
    ok(orm(project, "db", "downgrade", "base", *both))
    ok(orm(project, "db", "upgrade", "head", *both))
    assert ok(orm(project, "db", "current", *both)).stdout.strip() == revision
