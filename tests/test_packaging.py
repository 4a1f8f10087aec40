"""The plain install is the data layer: importing it pulls in no web, CLI or seeding stack."""

from __future__ import annotations

import subprocess
import sys

import pytest

OPTIONAL = [
    "fastapi", "dependency_injector", "typer", "click", "rich", "faker", "alembic", "opentelemetry",
    "advanced_alchemy", "tortoise", "sqlmodel", "matplotlib",
]  # fmt: skip


def _loaded_after(statement: str) -> set[str]:
    """Top-level packages in `sys.modules` after running `statement` in a fresh interpreter."""
    listing = "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    probe = f"import sys; {statement}; {listing}"
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(completed.stdout.split())


def test_orm_core_alone_imports_neither_the_repositories_nor_any_optional_stack():
    loaded = _loaded_after("import orm_core")
    assert "orm_core" in loaded
    assert not loaded & {"orm_repositories", "orm_fastapi", *OPTIONAL}


def test_orm_repositories_imports_no_optional_stack():
    loaded = _loaded_after("import orm_core, orm_repositories")
    assert "orm_repositories" in loaded
    assert not loaded & {"orm_fastapi", *OPTIONAL}


def test_building_a_repository_from_a_unit_of_work_imports_no_optional_stack():
    statement = (
        "import asyncio; from tests.models import Product; "
        "from orm_core import Base, Database, UnitOfWork; import orm_repositories; "
        "db = Database('sqlite+aiosqlite:///:memory:'); "
        "asyncio.run(db.create_all(Base.metadata)); "
        "uow = UnitOfWork(db); "
        "asyncio.run(uow.__aenter__()); uow.repository(Product)"
    )
    assert not _loaded_after(statement) & {"orm_fastapi", *OPTIONAL}


@pytest.mark.parametrize("missing", ["typer", "rich", "alembic"])
def test_the_orm_command_without_the_cli_extra_says_how_to_install_it(missing):
    # a module set to None in sys.modules cannot be imported, as if it were not installed
    program = (
        f"import sys; sys.modules[{missing!r}] = None; "
        "from orm_repositories.cli import main; main()"
    )
    completed = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 2
    assert 'pip install "orm-kit[cli]"' in completed.stderr
    assert "Traceback" not in completed.stderr


def test_seeding_without_faker_says_how_to_install_it(tmp_path):
    program = (
        "import sys; sys.modules['faker'] = None; sys.argv = ['orm', 'db', 'seed', 'Product', "
        f"'--url', 'sqlite+aiosqlite:///{tmp_path}/x.db', '--models', 'tests.models:Base']; "
        "from orm_repositories.cli import main; main()"
    )
    completed = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 2
    assert 'pip install "orm-kit[seed]"' in completed.stderr
    assert "Traceback" not in completed.stderr


def test_tracing_without_the_otel_extra_says_how_to_install_it():
    program = (
        "import sys; sys.modules['opentelemetry'] = None; "
        "from orm_core import Database, instrument; "
        "db = Database('sqlite+aiosqlite:///:memory:')\n"
        "try:\n    instrument(db)\n"
        "except ImportError as exc:\n    print(exc)\n    raise SystemExit(3)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 3, completed.stderr
    assert 'pip install "orm-kit[otel]"' in completed.stdout
