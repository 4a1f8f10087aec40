"""Run a command with a PgBouncer (transaction pooling) in front of the test PostgreSQL.

`python -m tests.pgbouncer pytest ...` installs Debian's `pgbouncer` when it is missing
(as root), starts one on a free port in a temporary directory, runs the command with
`ORM_TEST_POSTGRES_URL` pointing through it (`?pgbouncer=true`), stops it and exits with
the command's status. The daemon refuses to run as root, so it runs as `postgres`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import make_url

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
CONFIG = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir = {directory}
auth_type = trust
auth_file = {directory}/userlist.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 60
ignore_startup_parameters = extra_float_digits
pidfile = {directory}/pgbouncer.pid
logfile = {directory}/pgbouncer.log
"""


def pgbouncer_binary() -> str:
    """The pgbouncer executable, installed with apt-get when missing (needs root)."""
    found = shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
    )
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("pgbouncer is not installed (apt-get install pgbouncer)")
    print("installing pgbouncer with apt-get", flush=True)
    quiet = {"stdout": subprocess.DEVNULL, "check": False}
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "pgbouncer"], env=env, **quiet).returncode:
        subprocess.run(["apt-get", "update"], env=env, **quiet)
        subprocess.run(["apt-get", "install", "-y", "pgbouncer"], env=env, check=True)
    return shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(port: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"pgbouncer did not listen on port {port}")


def main(command: list[str]) -> int:
    """Start PgBouncer, run `command` through it, stop it; return the command's status."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the daemon on the way out
    binary = pgbouncer_binary()
    target = make_url(os.environ.get("ORM_TEST_POSTGRES_URL", DEFAULT_URL))
    listen = free_port()
    directory = Path(tempfile.mkdtemp(prefix="orm-pgbouncer-"))
    try:
        (directory / "userlist.txt").write_text(f'"{target.username or "postgres"}" ""\n')
        config = directory / "pgbouncer.ini"
        config.write_text(CONFIG.format(host=target.host or "127.0.0.1",
                                        port=target.port or 5432, listen=listen,
                                        directory=directory))  # fmt: skip
        daemon = [binary, "-d", str(config)]
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres")
            for path in directory.iterdir():
                shutil.chown(path, "postgres")
            daemon = ["runuser", "-u", "postgres", "--", *daemon]
        subprocess.run(daemon, check=True)
        wait_for(listen)
        through = target.set(port=listen, query={**target.query, "pgbouncer": "true"})
        env = {**os.environ,
               "ORM_TEST_POSTGRES_URL": through.render_as_string(hide_password=False)}  # fmt: skip
        print(f"running through PgBouncer on port {listen}", flush=True)
        return subprocess.run(command, env=env, check=False).returncode
    finally:
        pid_file = directory / "pgbouncer.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().strip())
            try:
                os.kill(pid, 15)
                for _ in range(50):
                    os.kill(pid, 0)
                    time.sleep(0.1)
            except ProcessLookupError:
                pass
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
