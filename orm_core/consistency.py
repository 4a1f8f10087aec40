"""Read-your-writes positions: WAL positions, consistency tokens and the context holding them.

After a unit of work commits a write, the primary's WAL position is recorded in a
`ContextVar`, per `Database`. A read-only unit of work in the same context reads from a
replica only once that replica has replayed the position.

The variable holds a `_Positions` holder. A commit in a context without a shared holder
sets a new holder in the committing task's context: that task and the tasks it starts
afterwards see the position, its parent does not. `consistency_scope()` installs a shared
holder that commits raise in place, so everything inside the block (a whole HTTP request:
its dependencies, spawned tasks, threadpool work) sees every commit made inside it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from orm_core.errors import InvalidQueryError

# a position no replica reaches: reads go to the primary (used when the commit's is unknown)
MAX_LSN = (1 << 64) - 1
# PostgreSQL's text form of a pg_lsn: two hexadecimal 32-bit halves
_LSN_TEXT = re.compile(r"[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}")
# WAL page headers (64-bit builds): a position right after one is the page's start
_SHORT_PAGE_HEADER = 24
_LONG_PAGE_HEADER = 40


def parse_lsn(text: Any) -> int:
    """Return the WAL position written as PostgreSQL writes a `pg_lsn` ("0/3016038").

    Raises:
        InvalidQueryError: anything else (the token is not one the framework handed out).
    """
    if not isinstance(text, str) or _LSN_TEXT.fullmatch(text) is None:
        raise InvalidQueryError(
            "malformed consistency token: expected a WAL position such as '0/3016038'",
            {"token": repr(text)[:100]},
        )
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(position: int) -> str:
    """Write a WAL position as PostgreSQL does (`pg_lsn` text)."""
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def page_start(position: int, *, block_size: int, segment_size: int) -> int:
    """Map an insert position just past a WAL page header onto the page's start.

    `pg_current_wal_insert_lsn()` points past the header of the page the next record goes
    to, while a standby's replay position stops at the end of the last record: when a
    commit record ends exactly at a page boundary the two differ by the header, and an
    idle standby would never seem to have caught up. No record ends inside a header,
    so the page's start is the same requirement.
    """
    if position % segment_size == _LONG_PAGE_HEADER:
        return position - _LONG_PAGE_HEADER
    if position % block_size == _SHORT_PAGE_HEADER and position % segment_size >= block_size:
        return position - _SHORT_PAGE_HEADER
    return position


class _Positions:
    """The WAL positions a context must read at or past, by database key."""

    __slots__ = ("by_database", "shared")

    def __init__(self, by_database: dict[int, int] | None = None, *, shared: bool) -> None:
        self.by_database: dict[int, int] = by_database or {}
        self.shared = shared


_current: ContextVar[_Positions | None] = ContextVar("orm_read_your_writes", default=None)


@contextmanager
def consistency_scope() -> Iterator[None]:
    """Share read-your-writes positions among everything the block runs (one request).

    Commits made inside the block — in this task, in tasks it spawns, in threads it
    hands work to — count for every read-only unit of work inside the block, not only
    for the committing task and its children. The block starts from the positions its
    context already holds. `setup_orm` opens one per HTTP request.
    """
    outer = _current.get()
    token = _current.set(_Positions(dict(outer.by_database) if outer else {}, shared=True))
    try:
        yield
    finally:
        _current.reset(token)


def required_position(key: int) -> int:
    """The WAL position a read in this context must see for database `key` (0: none)."""
    positions = _current.get()
    return positions.by_database.get(key, 0) if positions is not None else 0


def raise_position(key: int, position: int) -> None:
    """Record that this context must read database `key` at or past `position`."""
    positions = _current.get()
    if positions is not None and positions.shared:
        by_database = positions.by_database
        by_database[key] = max(by_database.get(key, 0), position)
        return
    # copy on write: the parent task's context keeps its own holder unchanged
    by_database = dict(positions.by_database) if positions is not None else {}
    by_database[key] = max(by_database.get(key, 0), position)
    _current.set(_Positions(by_database, shared=False))
