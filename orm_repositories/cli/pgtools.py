"""Find and run PostgreSQL's client programs (pg_dump, pg_restore) of the right version."""

from __future__ import annotations

import glob
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from orm_repositories.cli.target import CommandError, DatabaseTarget

BINDIR_ENV = "ORM_PG_BINDIR"
# Where distributions install the client programs, besides PATH (one folder per version).
INSTALL_PATTERNS = (
    "/usr/lib/postgresql/*/bin",
    "/usr/pgsql-*/bin",
    "/usr/local/pgsql/bin",
    "/opt/homebrew/opt/postgresql@*/bin",
    "/usr/local/opt/postgresql@*/bin",
)
_VERSION = re.compile(r"\)\s*(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class Program:
    """One installed client program and its major version."""

    path: Path
    major: int


def candidates(name: str) -> list[Path]:
    """Every executable called `name`: in ORM_PG_BINDIR alone when it is set, else PATH first.

    The glob patterns cover the per-version folders of Debian, Red Hat and Homebrew.
    """
    if os.environ.get(BINDIR_ENV):
        folders = [os.environ[BINDIR_ENV]]
    else:
        folders = os.environ.get("PATH", "").split(os.pathsep)
        for pattern in INSTALL_PATTERNS:
            folders += sorted(glob.glob(pattern))
    found: dict[Path, Path] = {}
    for folder in folders:
        path = Path(folder or ".") / name
        # keyed by the real file, run by the name found: Debian's /usr/bin/pg_dump is a
        # link to a wrapper that reads its own name
        if path.is_file() and os.access(path, os.X_OK):
            found.setdefault(path.resolve(), path)
    return list(found.values())


def version_of(path: Path) -> int | None:
    """Return the major version `path --version` reports, None when it cannot be read."""
    try:
        result = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(result.stdout)
    return int(match.group(1)) if result.returncode == 0 and match else None


def choose(programs: list[Program], server_major: int) -> Program | None:
    """Pick the program of the server's major version, else the closest newer one.

    pg_dump refuses to dump a server newer than itself, and an archive is best read
    by the version that wrote it, so an older program is never chosen.
    """
    usable = [p for p in programs if p.major >= server_major]
    return min(usable, key=lambda p: p.major, default=None)


def find(name: str, server_major: int) -> Program:
    """Return the `name` program to use against a server of `server_major`.

    Raises:
        CommandError: no such program is installed, or only versions older than the server.
    """
    programs = [
        Program(path, major) for path in candidates(name) if (major := version_of(path)) is not None
    ]
    chosen = choose(programs, server_major)
    if chosen is not None:
        return chosen
    where = os.environ.get(BINDIR_ENV) or f"PATH or {', '.join(INSTALL_PATTERNS[:1])}"
    install = f"install the PostgreSQL {server_major} client programs (e.g. postgresql-client)"
    if not programs:
        raise CommandError(
            f"{name} not found in {where}: {install}, or set {BINDIR_ENV} to their folder"
        )
    found = ", ".join(f"{p.path} ({p.major})" for p in programs)
    raise CommandError(
        f"{name} is older than the server (PostgreSQL {server_major}); found {found}: {install}"
    )


def run(program: Program, arguments: list[str], target: DatabaseTarget) -> None:
    """Run `program` against the target, its settings in PG* variables; fail with its error.

    Raises:
        CommandError: the program failed (its first error line, password removed).
    """
    try:
        result = subprocess.run(
            [str(program.path), "--no-password", *arguments],
            env=target.libpq_environment(),
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise CommandError(f"cannot run {program.path}: {exc}") from exc
    if result.returncode != 0:
        raise CommandError(f"{program.path.name} failed: {_error_line(result.stderr, target)}")


def _error_line(stderr: str, target: DatabaseTarget) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line.lower() or "fatal" in line.lower()]
    line = (errors or lines or ["no message"])[0]
    password = target.url.password
    return line.replace(str(password), "***") if password else line
