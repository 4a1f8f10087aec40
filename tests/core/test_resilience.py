"""Connection retries with backoff and the circuit breaker, against real servers.

PostgreSQL is reached through `TcpProxy`, so a test can make the server refuse,
reset, come up late, or go away, and count the connection attempts that reach it.
SQLite plays an unreachable database with a file whose directory does not exist yet.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

import orm_core.resilience
from orm_core import (
    CircuitBreaker,
    Database,
    DatabaseError,
    DatabaseUnavailableError,
    InvalidQueryError,
    UnitOfWork,
)
from orm_core.pinging import IDLE_BEFORE_PING
from orm_core.resilience import connect_delay, is_transient_connect_error
from tests.core.tcp_proxy import TcpProxy

RESET = 0.5  # the breakers' reset timeout in these tests, seconds


@pytest.fixture
async def proxy(postgres_url: str | None) -> AsyncIterator[TcpProxy]:
    if postgres_url is None:
        pytest.skip("PostgreSQL unreachable; set ORM_REQUIRE_POSTGRES=1 to fail")
    target = make_url(postgres_url)
    server = TcpProxy(target.port or 5432, target.host or "127.0.0.1")
    await server.start()
    yield server
    await server.stop()


def through(proxy: TcpProxy, postgres_url: str | None, **changes: str) -> str:
    """The test database's URL, reached through the proxy."""
    url = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port, **changes)
    return url.render_as_string(hide_password=False)


async def select_one(db: Database) -> int:
    rows = await db.fetch_all("SELECT 1 AS one")
    return int(rows[0]["one"])


async def fails_fast(db: Database) -> DatabaseUnavailableError:
    started = time.perf_counter()
    with pytest.raises(DatabaseUnavailableError) as info:
        await select_one(db)
    assert time.perf_counter() - started < 0.2
    return info.value


# -- retries on PostgreSQL ---------------------------------------------------------------


@pytest.mark.postgres
async def test_a_server_that_comes_up_within_the_retry_budget_is_reached(proxy, postgres_url):
    await proxy.stop()  # the port refuses
    db = Database(through(proxy, postgres_url), connect_retries=6)
    try:
        started = time.perf_counter()
        coming_up = await proxy.start_later(0.4)
        assert await select_one(db) == 1
        assert time.perf_counter() - started >= 0.4
        await coming_up
        assert proxy.accepted == 1
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_retries_give_up_after_the_budget_with_database_unavailable(proxy, postgres_url):
    proxy.mode = "reset"
    db = Database(through(proxy, postgres_url), connect_retries=2)
    try:
        with pytest.raises(DatabaseUnavailableError):
            await select_one(db)
        assert proxy.accepted == 3  # the attempt and two retries
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_without_connect_retries_a_failure_is_reported_after_one_attempt(proxy, postgres_url):
    proxy.mode = "reset"
    db = Database(through(proxy, postgres_url))
    try:
        with pytest.raises(DatabaseUnavailableError):
            await select_one(db)
        assert proxy.accepted == 1
    finally:
        await db.dispose()


@pytest.mark.server_session  # PgBouncer reports a failed server login as its own error
@pytest.mark.postgres
@pytest.mark.parametrize("changes", [{"database": "no_such_db_res"}, {"username": "no_such_role"}])
async def test_an_unknown_database_or_role_is_not_retried(proxy, postgres_url, changes):
    db = Database(through(proxy, postgres_url, **changes), connect_retries=5)
    try:
        started = time.perf_counter()
        # DatabaseUnavailableError once SQLSTATE classes 28 and 3D are mapped to it
        with pytest.raises(DatabaseError):
            await select_one(db)
        assert proxy.accepted == 1
        assert time.perf_counter() - started < 0.5
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_a_transaction_that_lost_its_connection_is_not_reconnected(proxy, postgres_url):
    db = Database(through(proxy, postgres_url), connect_retries=5)
    try:
        with pytest.raises(DatabaseUnavailableError):
            async with UnitOfWork(db) as uow:
                await uow.session.execute(text("SELECT 1"))
                assert proxy.accepted == 1
                await proxy.drop_connections()  # the server stays reachable
                await uow.session.execute(text("SELECT 2"))
        assert proxy.accepted == 1  # no new connection was opened for that transaction
        assert await select_one(db) == 1  # the next checkout connects again
        assert proxy.accepted == 2
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_a_dead_pooled_connection_is_replaced_through_the_retries(proxy, postgres_url):
    db = Database(through(proxy, postgres_url), connect_retries=6)
    try:
        assert await select_one(db) == 1
        await proxy.stop()  # pooled connection cut, port refusing
        await asyncio.sleep(IDLE_BEFORE_PING + 0.1)  # idle long enough to be pinged
        coming_up = await proxy.start_later(0.3)
        assert await select_one(db) == 1  # the ping fails, the reconnect is retried
        await coming_up
    finally:
        await db.dispose()


# -- the breaker on PostgreSQL -----------------------------------------------------------


@pytest.mark.postgres
async def test_the_breaker_opens_fails_fast_half_opens_and_closes(proxy, postgres_url):
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=RESET)
    proxy.mode = "reset"
    db = Database(through(proxy, postgres_url), circuit_breaker=breaker)
    try:
        for _ in range(3):
            with pytest.raises(DatabaseUnavailableError):
                await select_one(db)
        assert proxy.accepted == 3 and breaker.state == "open"

        proxy.mode = "forward"  # the server is back, but the breaker does not know yet
        error = await fails_fast(db)
        assert error.details["circuit_breaker"] == "open"
        assert await db.ping() is False
        assert proxy.accepted == 3  # open: not one attempt reached the server

        await asyncio.sleep(RESET)
        assert breaker.state == "half_open"
        assert await select_one(db) == 1  # the trial connects
        assert breaker.state == "closed" and breaker.failures == 0
        assert proxy.accepted == 4
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_a_failed_trial_opens_the_breaker_again(proxy, postgres_url):
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=RESET)
    proxy.mode = "reset"
    db = Database(through(proxy, postgres_url), circuit_breaker=breaker)
    try:
        for _ in range(2):
            with pytest.raises(DatabaseUnavailableError):
                await select_one(db)
        await asyncio.sleep(RESET)
        with pytest.raises(DatabaseUnavailableError):
            await select_one(db)  # the trial reaches the server and fails
        assert proxy.accepted == 3 and breaker.state == "open"
        await fails_fast(db)
        assert proxy.accepted == 3
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_half_open_lets_one_trial_through_and_fails_the_others_fast(proxy, postgres_url):
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=RESET)
    proxy.mode = "reset"
    db = Database(through(proxy, postgres_url), circuit_breaker=breaker)
    try:
        with pytest.raises(DatabaseUnavailableError):
            await select_one(db)
        proxy.mode, proxy.delay = "forward", 0.3  # a slow trial
        await asyncio.sleep(RESET)
        trial = asyncio.create_task(select_one(db))
        await asyncio.sleep(0.1)
        error = await fails_fast(db)
        assert error.details["circuit_breaker"] == "half_open"
        assert await trial == 1
        assert proxy.accepted == 2 and breaker.state == "closed"
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_retries_stop_as_soon_as_the_breaker_opens(proxy, postgres_url):
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=30)
    proxy.mode = "reset"
    db = Database(through(proxy, postgres_url), connect_retries=5, circuit_breaker=breaker)
    try:
        with pytest.raises(DatabaseUnavailableError) as info:
            await select_one(db)
        assert info.value.details["circuit_breaker"] == "open"
        assert proxy.accepted == 2
    finally:
        await db.dispose()


@pytest.mark.server_session  # PgBouncer reports a failed server login as its own error
@pytest.mark.postgres
async def test_bad_credentials_neither_open_the_breaker_nor_use_up_the_trial(proxy, postgres_url):
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=RESET)
    db = Database(through(proxy, postgres_url, username="no_such_role"), circuit_breaker=breaker)
    try:
        for _ in range(3):
            with pytest.raises(DatabaseError):
                await select_one(db)
        assert breaker.state == "closed" and proxy.accepted == 3
    finally:
        await db.dispose()


# -- SQLite: a file that cannot be opened yet ----------------------------------------------


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def test_sqlite_retries_until_the_file_can_be_opened(tmp_path):
    folder = tmp_path / "mounted-later"
    db = Database(sqlite_url(folder / "app.db"), connect_retries=6)

    async def mount() -> None:
        await asyncio.sleep(0.3)
        folder.mkdir()

    try:
        mounting = asyncio.create_task(mount())
        assert await select_one(db) == 1
        await mounting
    finally:
        await db.dispose()


async def test_sqlite_gives_up_with_database_unavailable(tmp_path):
    db = Database(sqlite_url(tmp_path / "missing" / "app.db"), connect_retries=1)
    try:
        with pytest.raises(DatabaseUnavailableError):
            await select_one(db)
    finally:
        await db.dispose()
        # aiosqlite stops a failed connection's worker thread in the background: let it
        # finish while the event loop still runs
        await asyncio.sleep(0.1)


async def test_sqlite_breaker_opens_and_fails_fast_until_the_reset_timeout(tmp_path):
    folder = tmp_path / "missing"
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=RESET)
    db = Database(sqlite_url(folder / "app.db"), circuit_breaker=breaker)
    try:
        for _ in range(2):
            with pytest.raises(DatabaseUnavailableError):
                await select_one(db)
        assert breaker.state == "open"
        folder.mkdir()  # openable now: only an attempt could tell
        await fails_fast(db)
        await asyncio.sleep(RESET)
        assert await select_one(db) == 1
        assert breaker.state == "closed"
    finally:
        await db.dispose()


# -- the pieces --------------------------------------------------------------------------


def test_the_breaker_counts_consecutive_failures_only():
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=10, clock=lambda: now[0])
    for _ in range(2):
        breaker.before_attempt()
        breaker.record_failure()
    breaker.before_attempt()
    breaker.record_success()  # a success in between starts the count again
    for _ in range(2):
        breaker.before_attempt()
        breaker.record_failure()
    assert breaker.state == "closed"
    breaker.before_attempt()
    breaker.record_failure()
    assert breaker.state == "open"
    with pytest.raises(DatabaseUnavailableError) as info:
        breaker.before_attempt()
    assert info.value.details == {"circuit_breaker": "open", "retry_after": 10.0}
    now[0] = 9.9
    assert breaker.state == "open"
    now[0] = 10.0
    assert breaker.state == "half_open"
    breaker.before_attempt()  # the trial
    with pytest.raises(DatabaseUnavailableError):
        breaker.before_attempt()  # anyone else while it runs
    breaker.release()  # the trial told nothing (cancelled): the next attempt is the trial
    breaker.before_attempt()
    breaker.record_success()
    assert breaker.state == "closed" and "closed" in repr(breaker)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"failure_threshold": True},
        {"failure_threshold": 2.5},
        {"reset_timeout": 0},
        {"reset_timeout": -1},
        {"reset_timeout": "30"},
    ],
)
def test_bad_breaker_settings_are_rejected(kwargs):
    with pytest.raises(InvalidQueryError):
        CircuitBreaker(**kwargs)


@pytest.mark.parametrize("retries", [-1, True, 1.5, "3", None])
def test_bad_connect_retries_are_rejected(tmp_path, retries):
    with pytest.raises(InvalidQueryError):
        Database(sqlite_url(tmp_path / "x.db"), connect_retries=retries)


def test_a_circuit_breaker_must_be_a_circuit_breaker(tmp_path):
    with pytest.raises(InvalidQueryError):
        Database(sqlite_url(tmp_path / "x.db"), circuit_breaker=5)  # type: ignore[arg-type]


def test_the_backoff_doubles_with_jitter_and_is_capped(monkeypatch):
    delays = [[connect_delay(attempt) for attempt in range(1, 8)] for _ in range(50)]
    base, cap = orm_core.resilience.CONNECT_BASE_DELAY_S, orm_core.resilience.CONNECT_MAX_DELAY_S
    for attempt in range(1, 8):
        nominal = min(cap, base * 2 ** (attempt - 1))
        drawn = [row[attempt - 1] for row in delays]
        assert all(nominal / 2 <= d <= nominal for d in drawn)
        assert len(set(drawn)) > 1  # jittered


def test_what_counts_as_a_transient_connection_failure():
    import socket

    assert is_transient_connect_error(ConnectionRefusedError("refused"))
    assert is_transient_connect_error(socket.gaierror("dns"))
    assert is_transient_connect_error(TimeoutError())
    assert not is_transient_connect_error(DatabaseUnavailableError("open"))
    assert not is_transient_connect_error(ValueError("a bug"))


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("3,1.5", (3, 1.5)), (" 7 ", (7, 30.0)), ("on", (5, 30.0)), ("off", None), ("", None)],
)
def test_a_breaker_can_be_read_from_a_text_setting(setting, expected):
    breaker = CircuitBreaker.parse(setting)
    if expected is None:
        assert breaker is None
    else:
        assert breaker is not None
        assert (breaker.failure_threshold, breaker.reset_timeout) == expected


@pytest.mark.parametrize("setting", ["five", "5,soon", "0,30", "5,-1"])
def test_a_bad_breaker_setting_is_rejected(setting):
    with pytest.raises(InvalidQueryError):
        CircuitBreaker.parse(setting)
