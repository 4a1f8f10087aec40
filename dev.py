"""Project tasks that need nothing but Python: `python3 dev.py test` and `python3 dev.py example`.

Each task creates `.venv` and installs the project with its development tools first
(again only when pyproject.toml changed), then runs.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import venv
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".installed"
PACKAGES = ["orm_core", "orm_repositories", "orm_fastapi"]


def ensure_environment() -> None:
    """Create the virtual environment and install the project, when needed."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest and PYTHON.exists():
        return
    if not PYTHON.exists():
        print("creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "-e", ".[dev]"])
    STAMP.write_text(digest)


def run(command: list[str], env: dict[str, str] | None = None) -> None:
    """Run a command from the project root; exit with its status if it fails."""
    print("+", " ".join(command), flush=True)
    completed = subprocess.run(command, cwd=ROOT, env={**os.environ, **(env or {})}, check=False)
    if completed.returncode != 0:
        sys.exit(completed.returncode)


def test(args: list[str]) -> None:
    """Lint, type-check and run the whole test suite (SQLite and PostgreSQL), then run its
    PostgreSQL half again through PgBouncer in transaction pooling mode."""
    ensure_environment()
    run([str(BIN / "ruff"), "check", *PACKAGES])
    run([str(BIN / "mypy"), "--strict", *PACKAGES])
    run([str(PYTHON), "-m", "pytest", *args])
    if os.environ.get("ORM_REQUIRE_POSTGRES") == "1" or postgres_reachable():
        print("PostgreSQL suite again, through PgBouncer", flush=True)
        run([str(PYTHON), "-m", "tests.pgbouncer", str(PYTHON), "-m", "pytest", *args])


def postgres_reachable() -> bool:
    """Whether the test PostgreSQL server accepts TCP connections."""
    url = urlsplit(os.environ.get("ORM_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test"))
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 5432), 2):
            return True
    except OSError:
        return False


def example(args: list[str]) -> None:
    """Start the example shop service on SQLite (or on DATABASE_URL when it is set)."""
    ensure_environment()
    run([str(PYTHON), "-m", "examples.shop", *args])


TASKS = {"test": test, "example": example}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS:
        print(f"usage: python3 dev.py {{{'|'.join(TASKS)}}} [args...]", file=sys.stderr)
        sys.exit(2)
    TASKS[sys.argv[1]](sys.argv[2:])
