"""Map SQLAlchemy and driver exceptions onto the `OrmError` tree.

This is the one translation point: every place where a driver error can surface
(statements, flushes, COPY, commits, raw SQL) runs inside `with translating():`,
which raises the mapped `OrmError` from the original. `translate()` is the table
behind it, most specific match first.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import exc as orm_exc

from orm_core.errors import (
    CommitUnknownError,
    ConcurrentModificationError,
    ConstraintError,
    DatabaseError,
    DatabaseUnavailableError,
    DuplicateError,
    InvalidQueryError,
    LockNotAvailableError,
    OrmError,
    QueryTimeoutError,
    TransactionConflictError,
    TransactionError,
)

_PG_KEY_DETAIL = re.compile(r"Key \((?P<fields>[^)]*)\)=")
_SQLITE_FIELDS = re.compile(r"constraint failed: (?P<fields>.+)$")
_MYSQL_KEY = re.compile(r"for key '(?P<key>[^']+)'")

# SQLSTATE -> error class; the most specific code wins over its class prefix.
_SQLSTATE_EXACT: dict[str, type[OrmError]] = {
    "23505": DuplicateError,
    "40001": TransactionConflictError,
    "40P01": TransactionConflictError,
    "55P03": LockNotAvailableError,
    "53300": DatabaseUnavailableError,
    "57P01": DatabaseUnavailableError,
    "57P02": DatabaseUnavailableError,
    "57P03": DatabaseUnavailableError,
    "25006": TransactionError,
}
_SQLSTATE_CLASS: dict[str, type[OrmError]] = {
    "23": ConstraintError,
    "22": InvalidQueryError,
    "08": DatabaseUnavailableError,
    "28": DatabaseUnavailableError,  # authentication failed, unknown role
    "3D": DatabaseUnavailableError,  # unknown database
    "40": TransactionConflictError,
}
# statement_timeout, or a lock wait past lock_timeout (a NOWAIT failure shares 55P03)
_TIMEOUT_STATES = frozenset({"57014", "55P03"})
# MySQL / MariaDB server error numbers.
_MYSQL_CODES: dict[int, type[OrmError]] = {
    1062: DuplicateError,
    1048: ConstraintError,
    1216: ConstraintError,
    1217: ConstraintError,
    1451: ConstraintError,
    1452: ConstraintError,
    3819: ConstraintError,
    4025: ConstraintError,
    1213: TransactionConflictError,
    1205: QueryTimeoutError,  # innodb_lock_wait_timeout
    3024: QueryTimeoutError,  # max_execution_time
    3572: LockNotAvailableError,
    1264: InvalidQueryError,
    1366: InvalidQueryError,
    1406: InvalidQueryError,
    1044: DatabaseUnavailableError,
    1045: DatabaseUnavailableError,
    1049: DatabaseUnavailableError,
    2003: DatabaseUnavailableError,
    2005: DatabaseUnavailableError,
    2006: DatabaseUnavailableError,
    2013: DatabaseUnavailableError,
}

_MESSAGES: dict[type[OrmError], str] = {
    DuplicateError: "a row with the same unique value already exists",
    ConstraintError: "an integrity constraint was violated",
    TransactionConflictError: "the transaction was aborted by a concurrent conflict; retry it",
    LockNotAvailableError: "the row is locked by another transaction",
    InvalidQueryError: "the database rejected a value as invalid",
    DatabaseUnavailableError: "the database is unavailable",
    QueryTimeoutError: "the statement ran past its time limit (statement or lock timeout)",
    DatabaseError: "the database operation failed",
    ConcurrentModificationError: "the row was modified or deleted by another transaction",
    CommitUnknownError: "the connection was lost during COMMIT; the outcome is unknown",
    TransactionError: "a read-only unit of work cannot write or lock rows",
}


_DRIVER_MODULES = ("sqlalchemy", "asyncpg", "sqlite3", "aiosqlite", "pymysql", "aiomysql")


@contextmanager
def translating(*, during_commit: bool = False, network: bool = True) -> Iterator[None]:
    """Raise the `OrmError` standing for any database error the block raises.

    `OrmError`s pass through, and so do exceptions that are not about the database
    (a bug stays a bug). `during_commit` marks a lost connection as an unknown
    commit outcome (`CommitUnknownError`). `network=False` leaves plain `OSError`s
    alone, for blocks that run the caller's code too.
    """
    try:
        yield
    except OrmError:
        raise
    except Exception as exc:
        if not is_database_error(exc, network=network):
            raise
        raise translate(exc, during_commit=during_commit) from exc


def is_database_error(exc: BaseException, *, network: bool = True) -> bool:
    """Tell whether `exc` comes from SQLAlchemy, a driver, or (`network`) the sockets under them.

    Inside `translating()` only database calls run, so an `OSError` there is the
    network's; elsewhere (a unit of work's block) it is the caller's own.
    """
    if network and isinstance(exc, OSError | TimeoutError | asyncio.IncompleteReadError):
        return True
    return type(exc).__module__.startswith(_DRIVER_MODULES)


def driver_error(exc: BaseException) -> BaseException | None:
    """Return the innermost driver exception behind a SQLAlchemy error, if any."""
    orig: BaseException | None = getattr(exc, "orig", None)
    if orig is None:
        return None
    inner = getattr(orig, "orig", None) or orig.__cause__
    return inner if isinstance(inner, BaseException) else orig


def sqlstate_of(exc: BaseException) -> str | None:
    """Return the SQLSTATE carried by a (wrapped) PostgreSQL error, if any."""
    for candidate in (getattr(exc, "orig", None), driver_error(exc)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def is_disconnect(exc: BaseException) -> bool:
    """Tell whether the error means the connection itself was lost."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    inner = driver_error(exc) or exc
    if isinstance(inner, ConnectionError | OSError | asyncio.IncompleteReadError):
        return True
    name = type(inner).__name__
    text = str(inner).lower()
    return name in {"ConnectionDoesNotExistError", "ConnectionFailureError"} or (
        "connection is closed" in text
        or "connection was closed" in text
        or "no active connection" in text
        or "underlying connection is closed" in text
    )


def translate(exc: BaseException, *, during_commit: bool = False) -> OrmError:
    """Return the `OrmError` that stands for `exc` (an `OrmError` is returned as is)."""
    if isinstance(exc, OrmError):
        return exc
    if during_commit and is_disconnect(exc):
        return CommitUnknownError(_MESSAGES[CommitUnknownError])
    if isinstance(exc, sa_exc.PendingRollbackError):
        return TransactionError(
            "an earlier statement in this unit of work failed, so its transaction must be "
            "rolled back; let the error leave the `async with` block or call rollback()"
        )
    if isinstance(exc, orm_exc.StaleDataError):
        return ConcurrentModificationError(_MESSAGES[ConcurrentModificationError])
    if isinstance(exc, sa_exc.TimeoutError):
        return DatabaseUnavailableError(
            "no database connection became free within the pool timeout"
        )
    if isinstance(exc, ConnectionError | OSError | TimeoutError):
        return DatabaseUnavailableError(f"{_MESSAGES[DatabaseUnavailableError]}: {exc}")
    if (
        isinstance(exc, sa_exc.StatementError)
        and not isinstance(exc, sa_exc.DBAPIError)
        and isinstance(exc.orig, TypeError | ValueError)
    ):
        return InvalidQueryError(f"invalid value: {exc.orig}")
    if isinstance(exc, sa_exc.DBAPIError):
        return _translate_dbapi(exc)
    # a SQLAlchemy error of its own (a mapping or statement mistake): its text holds no
    # driver data, and names the mistake
    return DatabaseError(f"{_MESSAGES[DatabaseError]}: {type(exc).__name__}: {_first_line(exc)}")


def _translate_dbapi(exc: sa_exc.DBAPIError) -> OrmError:
    inner = driver_error(exc) or exc
    # a MySQL error number first: the SQLSTATE PyMySQL carries too is shared (23000 for
    # every integrity error, a duplicate key as much as a foreign key)
    mysql_code = _mysql_code(inner)
    if mysql_code is not None and mysql_code in _MYSQL_CODES:
        return _build(_MYSQL_CODES[mysql_code], exc, _mysql_details(inner, mysql_code))
    state = sqlstate_of(exc)
    if state in _TIMEOUT_STATES and "timeout" in str(inner).lower():
        return QueryTimeoutError(_MESSAGES[QueryTimeoutError], {"sqlstate": state})
    if state is not None:
        cls = _SQLSTATE_EXACT.get(state) or _SQLSTATE_CLASS.get(state[:2])
        if cls is not None:
            return _build(cls, exc, _pg_details(inner, state))
    if _is_sqlite(inner):
        return _translate_sqlite(exc, inner)
    if type(inner).__name__ == "DataError" and type(inner).__module__.startswith("asyncpg"):
        return InvalidQueryError(f"invalid value: {_first_line(inner)}")
    if is_disconnect(exc):
        return DatabaseUnavailableError(_MESSAGES[DatabaseUnavailableError])
    if isinstance(exc, sa_exc.IntegrityError):
        return ConstraintError(_MESSAGES[ConstraintError])
    return DatabaseError(f"{_MESSAGES[DatabaseError]}: {type(inner).__name__}")


def _build(cls: type[OrmError], exc: BaseException, details: dict[str, Any]) -> OrmError:
    message = _MESSAGES.get(cls, _MESSAGES[DatabaseError])
    where = details.get("constraint") or ", ".join(details.get("fields", ()))
    if where and cls in (DuplicateError, ConstraintError):
        message = f"{message} ({where})"
    return cls(message, details)


def _pg_details(inner: BaseException, state: str) -> dict[str, Any]:
    details: dict[str, Any] = {"sqlstate": state}
    for attr, key in (
        ("constraint_name", "constraint"),
        ("table_name", "table"),
        ("column_name", "column"),
    ):
        value = getattr(inner, attr, None)
        if value:
            details[key] = value
    match = _PG_KEY_DETAIL.search(str(getattr(inner, "detail", "") or ""))
    if match:
        details["fields"] = [f.strip().strip('"') for f in match["fields"].split(",")]
    elif "column" in details:
        details["fields"] = [details["column"]]
    return details


def _is_sqlite(inner: BaseException) -> bool:
    return type(inner).__module__ in {"sqlite3", "_sqlite3"} or hasattr(inner, "sqlite_errorname")


def _translate_sqlite(exc: sa_exc.DBAPIError, inner: BaseException) -> OrmError:
    name = str(getattr(inner, "sqlite_errorname", ""))
    text = str(inner)
    details: dict[str, Any] = {"sqlite_error": name} if name else {}
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
        return TransactionConflictError(_MESSAGES[TransactionConflictError], details)
    if name == "SQLITE_INTERRUPT" or text == "interrupted":
        return QueryTimeoutError(_MESSAGES[QueryTimeoutError], details)
    if name.startswith("SQLITE_CANTOPEN") or "unable to open database" in text:
        return DatabaseUnavailableError(f"{_MESSAGES[DatabaseUnavailableError]}: {text}")
    if isinstance(exc, sa_exc.IntegrityError) or name.startswith("SQLITE_CONSTRAINT"):
        match = _SQLITE_FIELDS.search(text)
        if match and text.startswith("CHECK"):
            details["constraint"] = match["fields"].strip()
        elif match:
            qualified = [f.strip() for f in match["fields"].split(",")]
            details["fields"] = [f.rsplit(".", 1)[-1] for f in qualified]
            details["table"] = qualified[0].rsplit(".", 1)[0] if "." in qualified[0] else None
        unique = name in {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"} or (
            text.startswith("UNIQUE constraint failed")
        )
        return _build(DuplicateError if unique else ConstraintError, exc, details)
    if "datatype mismatch" in text or name == "SQLITE_MISMATCH":
        return InvalidQueryError(f"invalid value: {text}", details)
    return DatabaseError(f"{_MESSAGES[DatabaseError]}: {text}", details)


def _mysql_code(inner: BaseException) -> int | None:
    args = getattr(inner, "args", ())
    if (
        args
        and isinstance(args[0], int)
        and type(inner).__module__.startswith(("pymysql", "aiomysql"))
    ):
        return args[0]
    return None


def _mysql_details(inner: BaseException, code: int) -> dict[str, Any]:
    details: dict[str, Any] = {"mysql_errno": code}
    match = _MYSQL_KEY.search(str(inner))
    if match:
        details["constraint"] = match["key"].rsplit(".", 1)[-1]
    return details


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
