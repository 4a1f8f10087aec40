"""The official RealWorld client suite (Postman collection, run by newman) against the example.

The example runs under uvicorn in a subprocess, on a free port, against a private
PostgreSQL database created for the run (its Alembic migrations build the schema at
start-up) and dropped afterwards. newman 6 comes from the npm registry, installed once
into a cache directory in the system's temporary directory. Without npm or PostgreSQL
the test is skipped, unless ORM_REQUIRE_POSTGRES=1 (CI), where it fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / ".." / "shared" / "realworld" / "Conduit.postman_collection.json"
NEWMAN_HOME = Path(tempfile.gettempdir()) / "orm-kit-newman"
NEWMAN = NEWMAN_HOME / "node_modules" / ".bin" / "newman"
POSTGRES_URL = os.environ.get(
    "ORM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REQUIRED = os.environ.get("ORM_REQUIRE_POSTGRES") == "1"


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail when the run requires everything (ORM_REQUIRE_POSTGRES=1)."""
    if REQUIRED:
        pytest.fail(f"{reason} (required by ORM_REQUIRE_POSTGRES=1)")
    pytest.skip(reason)


def newman() -> Path:
    """The newman 6 executable, installed from the npm registry on first use."""
    if NEWMAN.exists():
        return NEWMAN
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        unavailable("node and npm are needed to install newman")
    # install next to the cache, then move it in whole: a concurrent run never sees half
    staging = NEWMAN_HOME.with_name(f"{NEWMAN_HOME.name}-{uuid.uuid4().hex[:8]}")
    command = [npm, "install", "--prefix", str(staging), "newman@6"]
    options = ["--no-audit", "--no-fund", "--loglevel=error"]
    installed = subprocess.run(
        command + options, capture_output=True, text=True, timeout=300, check=False
    )
    if installed.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        unavailable(f"npm install newman@6 failed: {installed.stderr[-2000:]}")
    try:
        staging.rename(NEWMAN_HOME)
    except OSError:  # another run installed it first
        shutil.rmtree(staging, ignore_errors=True)
    return NEWMAN


async def _admin(sql: str) -> None:
    dsn = make_url(POSTGRES_URL).set(drivername="postgresql", query={}).render_as_string(False)
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
def conduit_database() -> Iterator[str]:
    """The URL of a private PostgreSQL database, dropped after the test."""
    name = f"realworld_newman_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        unavailable(f"PostgreSQL unreachable at {POSTGRES_URL}: {exc}")
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def conduit_server(conduit_database: str, tmp_path: Path) -> Iterator[str]:
    """`python -m examples.realworld` on a free port; yields its API URL."""
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "DATABASE_URL": conduit_database}
    server = subprocess.Popen(
        [sys.executable, "-m", "examples.realworld"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_serving(server, f"http://127.0.0.1:{port}/api/tags", tmp_path / "server.log")
        yield f"http://127.0.0.1:{port}/api"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def wait_until_serving(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the example exited with {server.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the example did not answer {url} within 30 s:\n{log.read_text()}")


def test_the_official_postman_collection_passes_on_postgresql(
    conduit_server: str, tmp_path: Path
) -> None:
    if not COLLECTION.exists():
        unavailable(f"the RealWorld collection is missing at {COLLECTION}")
    binary = newman()
    user = f"newman{uuid.uuid4().hex[:10]}"
    report = tmp_path / "newman.json"
    variables = {
        "APIURL": conduit_server,
        "USERNAME": user,
        "EMAIL": f"{user}@mail.com",
        "PASSWORD": "password",
    }
    command = [str(binary), "run", str(COLLECTION.resolve())]
    for key, value in variables.items():
        command += ["--global-var", f"{key}={value}"]
    command += ["--reporters", "cli,json", "--reporter-json-export", str(report)]
    command += ["--timeout-request", "10000", "--color", "off"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    assert report.exists(), f"newman wrote no report:\n{run.stdout}\n{run.stderr}"
    stats = json.loads(report.read_text())["run"]["stats"]
    summary = {kind: (stats[kind]["total"], stats[kind]["failed"]) for kind in stats}
    print("newman (total, failed):", summary)
    assert stats["requests"]["total"] == 32 and stats["assertions"]["total"] > 300, summary
    assert stats["assertions"]["failed"] == 0, run.stdout[-20000:]
    assert stats["requests"]["failed"] == 0 and run.returncode == 0, run.stdout[-20000:]
