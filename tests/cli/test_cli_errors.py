"""Every failure of `orm`: one line on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, RunOrm

UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
MODELS = (
    "from sqlalchemy import Column, Integer, MetaData, Table\n"
    "metadata = MetaData()\n"
    "Table('things', metadata, Column('id', Integer, primary_key=True))\n"
    "not_models = 42\n"
)


@pytest.fixture
def initialised(project: Path, cli: Cli, tmp_path: Path) -> str:
    """A project with a migration environment and models; returns a SQLite URL."""
    (project / "err_models.py").write_text(MODELS)
    assert cli("db", "init").exit_code == 0
    return f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"


def assert_one_line_failure(result: object, *fragments: str) -> None:
    exit_code = getattr(result, "exit_code", None)
    if exit_code is None:
        exit_code = result.returncode  # type: ignore[attr-defined]
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert exit_code not in (0, None), stderr
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in stderr, stderr
    exception = getattr(result, "exception", None)
    assert exception is None or isinstance(exception, SystemExit), repr(exception)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["db", "upgrade", "nope"], "Can't locate revision identified by 'nope'"),
        (["db", "downgrade", "abc123"], "abc123"),
        (["db", "upgrade", "--url", UNREACHABLE], "cannot connect to the database"),
        (["db", "current", "--url", UNREACHABLE], "cannot connect to the database"),
        (["db", "check", "--models", "no_such_module:Base"], "cannot import models module"),
        (["db", "check", "--models", "err_models"], "expected module:attr"),
        (["db", "check", "--models", "err_models:Missing"], "has no attribute"),
        (["db", "check", "--models", "err_models:not_models"], "neither a DeclarativeBase"),
        (["db", "upgrade", "--url", "not a url"], "bad database URL"),
        (["db", "upgrade", "--directory", "elsewhere"], "orm db init"),
        (["db", "init"], "already holds"),
        (["db", "seed", "Thing", "--models", "err_models:metadata"], "no model named 'Thing'"),
    ],
)
def test_bad_input_fails_with_one_clear_line(
    cli: Cli, initialised: str, args: list[str], fragment: str
) -> None:
    result = cli(*args, DATABASE_URL=initialised, ORM_MODELS="err_models:metadata")
    assert_one_line_failure(result, fragment)


def test_missing_url_names_every_place_it_may_come_from(cli: Cli, initialised: str) -> None:
    assert_one_line_failure(cli("db", "current"), "--url", "DATABASE_URL", "[tool.orm]")


def test_missing_models_name_every_place_they_may_come_from(cli: Cli, initialised: str) -> None:
    result = cli("db", "check", DATABASE_URL=initialised)
    assert_one_line_failure(result, "--models", "ORM_MODELS", "[tool.orm]")


def test_check_reports_unreachable_database_as_failure_not_as_drift(
    cli: Cli, initialised: str
) -> None:
    result = cli("db", "check", "--url", UNREACHABLE, ORM_MODELS="err_models:metadata")
    assert result.exit_code == 2
    assert_one_line_failure(result, "cannot connect")


def test_health_prints_the_report_as_json_and_fails_when_unhealthy(
    cli: Cli, initialised: str
) -> None:
    healthy = cli("db", "health", "--url", initialised)
    assert healthy.exit_code == 0, healthy.output
    report = json.loads(healthy.stdout)
    assert report["status"] == "healthy" and report["dialect"] == "sqlite"
    assert set(report) >= {"response_time_ms", "database_url", "pool"}

    sick = cli("db", "health", "--url", "postgresql+asyncpg://postgres:secret@127.0.0.1:1/x")
    assert sick.exit_code == 1
    assert json.loads(sick.stdout)["status"] == "unhealthy"
    assert "secret" not in sick.stdout
    assert_one_line_failure(sick, "unhealthy")


def test_installed_script_fails_without_a_traceback(run_orm: RunOrm) -> None:
    result = run_orm("db", "current", "--url", UNREACHABLE)
    assert result.returncode == 2
    assert_one_line_failure(result, "cannot connect")
    assert result.stdout == ""


def test_a_failing_migration_is_reported_in_one_line_and_leaves_the_database_at_base(
    project: Path, cli: Cli, initialised: str
) -> None:
    made = cli("db", "revision", "-m", "broken", DATABASE_URL=initialised)
    assert made.exit_code == 0, made.output
    [script] = (project / "migrations" / "versions").glob("*.py")
    broken = '"""Upgrade the schema."""\n    op.execute("SELECT * FROM no_such_table")'
    script.write_text(script.read_text().replace('"""Upgrade the schema."""\n    pass', broken))
    result = cli("db", "upgrade", DATABASE_URL=initialised)
    assert_one_line_failure(result, "migration failed", "no_such_table")
    assert cli("db", "current", DATABASE_URL=initialised).stdout == ""


def test_database_settings_come_from_options_and_the_environment(
    cli: Cli, initialised: str
) -> None:
    options = ("--db-option", "statement_timeout=2", "--db-option", "connect_retries=1")
    assert cli("db", "health", "--url", initialised, *options).exit_code == 0
    unknown = cli("db", "health", "--url", initialised, "--db-option", "colour=blue")
    assert unknown.exit_code == 2 and "unknown database setting 'colour'" in unknown.output
    malformed = cli("db", "health", "--url", initialised, "--db-option", "lock_timeout")
    assert malformed.exit_code == 2 and "KEY=VALUE" in malformed.output
    bad = cli("db", "health", "--url", initialised, DATABASE_LOCK_TIMEOUT="soon")
    assert bad.exit_code == 2 and "DATABASE_LOCK_TIMEOUT" in bad.output
