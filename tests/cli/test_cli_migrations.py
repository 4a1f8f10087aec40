"""The `orm db` migration commands on both databases, from models to tables and back."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.conftest import Cli, RunOrm, table_columns

MODELS = """
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from orm_core import NAMING_CONVENTION, TimestampMixin
from orm_core import Base as OrmBase


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = OrmBase.type_annotation_map


class Customer(TimestampMixin, Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(100))
{extra}

class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    total: Mapped[Decimal]
    issued_at: Mapped[datetime]
"""
PHONE = "    phone: Mapped[str | None] = mapped_column(String(30))\n"


def write_models(project: Path, extra: str = "") -> None:
    (project / "shop_models.py").write_text(MODELS.format(extra=extra))


def revision_files(project: Path) -> list[Path]:
    return sorted((project / "migrations" / "versions").glob("*.py"))


def test_migrations_go_from_models_to_tables_and_back_to_nothing(
    project: Path, cli: Cli, db_url: str
) -> None:
    write_models(project)
    env = {"DATABASE_URL": db_url, "ORM_MODELS": "shop_models:Base"}

    init = cli("db", "init")
    assert init.exit_code == 0, init.output
    assert (project / "migrations" / "env.py").is_file()

    first = cli("db", "revision", "-m", "create shop", "--autogenerate", **env)
    assert first.exit_code == 0, first.output
    [script] = revision_files(project)
    source = script.read_text()
    assert "sa.DateTime(timezone=True)" in source
    assert "orm_core" not in source, "migration files must not import the framework"
    assert "uq_customers_email" in source and "ix_invoices_customer_id" in source

    upgraded = cli("db", "upgrade", **env)
    assert upgraded.exit_code == 0, upgraded.output
    tables = table_columns(db_url)
    assert {"customers", "invoices", "alembic_version"} <= set(tables)
    assert "phone" not in tables["customers"]

    revision_id = re.search(r"Revision ID: (\w+)", source)
    assert revision_id is not None
    assert cli("db", "current", **env).stdout.strip() == revision_id[1]

    in_sync = cli("db", "check", **env)
    assert in_sync.exit_code == 0, in_sync.output

    write_models(project, PHONE)
    drift = cli("db", "check", **env)
    assert drift.exit_code == 1
    assert "add_column customers.phone" in drift.stdout
    assert drift.stderr.count("\n") == 1 and "differ" in drift.stderr

    second = cli("db", "revision", "-m", "add phone", "--autogenerate", **env)
    assert second.exit_code == 0, second.output
    assert len(revision_files(project)) == 2
    assert cli("db", "upgrade", **env).exit_code == 0
    assert "phone" in table_columns(db_url)["customers"]
    assert cli("db", "check", **env).exit_code == 0

    history = cli("db", "history", **env)
    assert history.exit_code == 0
    assert history.stdout.index("add phone") < history.stdout.index("create shop")

    down = cli("db", "downgrade", "base", **env)
    assert down.exit_code == 0, down.output
    assert set(table_columns(db_url)) <= {"alembic_version"}
    assert cli("db", "current", **env).stdout.strip() == ""
    behind = cli("db", "check", **env)
    assert behind.exit_code == 1 and "base" in behind.stdout


def test_autogenerate_without_changes_writes_no_revision(
    project: Path, cli: Cli, tmp_path: Path
) -> None:
    write_models(project)
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        "ORM_MODELS": "shop_models:Base",
    }
    assert cli("db", "init").exit_code == 0
    assert cli("db", "revision", "-m", "first", "--autogenerate", **env).exit_code == 0
    assert cli("db", "upgrade", **env).exit_code == 0
    again = cli("db", "revision", "-m", "nothing", "--autogenerate", **env)
    assert again.exit_code == 0 and "no changes" in again.stdout
    assert len(revision_files(project)) == 1
    empty = cli("db", "revision", "-m", "data fix", **env)
    assert empty.exit_code == 0 and len(revision_files(project)) == 2


def test_settings_come_from_options_then_environment_then_pyproject(
    project: Path, cli: Cli, tmp_path: Path
) -> None:
    write_models(project)
    configured = f"sqlite+aiosqlite:///{tmp_path / 'configured.db'}"
    other = f"sqlite+aiosqlite:///{tmp_path / 'other.db'}"
    (project / "pyproject.toml").write_text(
        f'[tool.orm]\nurl = "{configured}"\nmodels = "shop_models:Base"\n'
        'migrations = "db/migrations"\n'
    )
    assert cli("db", "init").exit_code == 0
    assert (project / "db" / "migrations" / "env.py").is_file()
    assert cli("db", "revision", "-m", "first", "--autogenerate").exit_code == 0
    assert cli("db", "upgrade").exit_code == 0
    revision_id = cli("db", "current").stdout.strip()
    assert revision_id and "customers" in table_columns(configured)

    assert cli("db", "current", DATABASE_URL=other).stdout.strip() == ""
    assert (
        cli("db", "current", "--url", configured, DATABASE_URL=other).stdout.strip() == revision_id
    )
    missing = cli("db", "check", "--models", "shop_models:Base", ORM_MODELS="missing:Base")
    assert missing.exit_code == 0, missing.output


def test_installed_script_runs_migrations_in_a_fresh_process(
    project: Path, run_orm: RunOrm, tmp_path: Path
) -> None:
    (project / "real_models.py").write_text(
        "from sqlalchemy.orm import Mapped, mapped_column\n"
        "from orm_core import Base, TimestampMixin\n\n"
        "class Item(TimestampMixin, Base):\n"
        "    __tablename__ = 'items'\n"
        "    id: Mapped[int] = mapped_column(primary_key=True)\n"
    )
    url = f"sqlite+aiosqlite:///{tmp_path / 'real.db'}"
    assert run_orm("db", "init").returncode == 0
    models = ("--models", "real_models:Base")
    made = run_orm("db", "revision", "-m", "items", "--autogenerate", "--url", url, *models)
    assert made.returncode == 0, made.stderr
    upgraded = run_orm("db", "upgrade", "--url", url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "items" in table_columns(url)
