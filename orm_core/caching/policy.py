"""Whether a read may use the cache, and whether it may fill it.

A read may *fill* only from a database snapshot taken after it read the versions it
keys the entry by; otherwise a commit between the two could be missing from an entry
that looks current. That holds when every statement takes a fresh snapshot (READ
COMMITTED on PostgreSQL), when the read opens the transaction, or when the transaction
holds the only write lock (a SQLite writer). Such reads fill; other reads may still be
served by the cache (`LOOKUP`) but read the database without filling on a miss.
REPEATABLE READ and SERIALIZABLE units bypass the cache entirely (their snapshot, not
the cache's newer state, is what they must see), and so does a read of a table the
unit has written, flushed or not.

The replica hook: whoever routes a unit's reads to a replica sets
`session.info[ROUTE_KEY] = REPLICA`; such reads are served by the cache but never fill it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, inspect
from sqlalchemy.ext.asyncio import AsyncSession

from orm_core.caching.base import Cache, TableKey
from orm_core.caching.tables import write_keys
from orm_core.dialects import READ_ONLY_OPTION, backend_of_session
from orm_core.session import CONTEXT_KEY, SessionContext, mapper_tables

DATABASE_KEY = "orm_database"
ROUTE_KEY = "orm_route"
REPLICA = "replica"
_SNAPSHOT_LEVELS = frozenset({"REPEATABLE READ", "SERIALIZABLE"})


class Mode(enum.Enum):
    """What a read does with the cache."""

    BYPASS = "bypass"  # straight to the database; counted neither hit nor miss
    LOOKUP = "lookup"  # served by the cache when it can; a miss reads without filling
    FILL = "fill"  # served by the cache, else read and stored


def cache_of(session: AsyncSession) -> Cache | None:
    """The cache of the database that opened `session` (None: none configured)."""
    database = session.info.get(DATABASE_KEY)
    cache = getattr(database, "cache", None)
    return cache if isinstance(cache, Cache) else None


def unit_schema(session: AsyncSession) -> str | None:
    """The schema the session's unit of work runs in (None: the default)."""
    context = session.info.get(CONTEXT_KEY)
    unit = context.unit_of_work if isinstance(context, SessionContext) else None
    schema = getattr(unit, "schema", None)
    return schema if isinstance(schema, str) else None


def read_mode(session: AsyncSession, keys: Sequence[TableKey]) -> Mode:
    """Decide what a read of the tables `keys` may do with the cache on `session`."""
    context = session.info.get(CONTEXT_KEY)
    unit = context.unit_of_work if isinstance(context, SessionContext) else None
    options = _bind_options(session)
    isolation = getattr(unit, "isolation_level", None) or options.get("isolation_level")
    isolation = isolation.upper() if isinstance(isolation, str) else None
    if isolation in _SNAPSHOT_LEVELS:
        return Mode.BYPASS
    if isinstance(context, SessionContext) and not written_keys(session, context).isdisjoint(keys):
        return Mode.BYPASS
    if session.info.get(ROUTE_KEY) == REPLICA:
        return Mode.LOOKUP
    backend = backend_of_session(session)
    if isolation in backend.statement_snapshots or not session.in_transaction():
        return Mode.FILL
    if backend.single_writer and not options.get(READ_ONLY_OPTION):
        return Mode.FILL
    return Mode.LOOKUP


def written_keys(session: AsyncSession, context: SessionContext) -> set[TableKey]:
    """The version keys of every table the unit wrote or is about to flush."""
    tables: set[Table] = set(context.written)
    sync = session.sync_session
    if not sync._is_clean():
        for entity in (*sync.new, *sync.dirty, *sync.deleted):
            tables.update(mapper_tables(inspect(entity).mapper))
    if not tables:
        return set()
    return write_keys(tables, unit_schema(session), sync.get_bind().dialect)


def _bind_options(session: AsyncSession) -> dict[str, Any]:
    bind: Any = session.bind
    return dict(bind.get_execution_options()) if bind is not None else {}
