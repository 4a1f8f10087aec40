"""Where a unit of work reads, and the WAL position each commit that wrote leaves behind.

A read-only unit of work opens its transaction on a replica (`ReplicaSet.candidates`, in
turn) and checks it with its first statement: still in recovery, and replayed at least
the position the unit must see — its context's (`orm_core.consistency`) and its `after`
token. A replica that fails there is set aside and the next one, or the primary, serves.

Writers record the primary's WAL position after each commit that wrote:
`pg_current_wal_insert_lsn()`, read after COMMIT returned. It is never behind the end of
the commit record, even with `synchronous_commit = off` (when `pg_current_wal_lsn()`, the
write position, can be); at worst it is a few records ahead, so a read waits for them.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from orm_core.caching.policy import REPLICA, ROUTE_KEY
from orm_core.consistency import (
    MAX_LSN,
    format_lsn,
    parse_lsn,
    raise_position,
    required_position,
)
from orm_core.errors import DatabaseUnavailableError
from orm_core.replicas import Replica, retrying_stale
from orm_core.session import OrmSession
from orm_core.translate import is_database_error, translate

if TYPE_CHECKING:
    from orm_core.database import Database

logger = logging.getLogger(__name__)

_CHECK = text("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text")
_WROTE = text("SELECT pg_current_xact_id_if_assigned() IS NOT NULL")
_BEGUN_KEY = "orm_transaction_begun"


@dataclass(frozen=True, slots=True)
class ReadRouting:
    """Where a unit of work may read: on a replica (`wanted`) that replayed `after`."""

    wanted: bool = False
    after: int = 0


PRIMARY = ReadRouting()


def read_routing(
    *, read_only: bool, replica: bool, isolation_level: str | None, after: Any
) -> ReadRouting:
    """The routing of a unit of work; writers ignore `replica` and `after`.

    A hot standby cannot run SERIALIZABLE transactions, so those read on the primary.

    Raises:
        InvalidQueryError: `after` is not a consistency token.
    """
    if not read_only:
        return PRIMARY
    position = parse_lsn(after) if after is not None else 0
    return ReadRouting(wanted=bool(replica) and isolation_level != "SERIALIZABLE", after=position)


async def open_session(
    database: Database, engine: AsyncEngine, routing: ReadRouting
) -> tuple[AsyncSession, Replica | None]:
    """Open a unit's session: on a replica fit for it, else on `engine` (the primary's)."""
    replicas = database.replicas
    if routing.wanted and replicas:
        required = max(routing.after, required_position(replicas.key))
        for replica in replicas.candidates():
            session = await _on_replica(database, replica, engine, required)
            if session is not None:
                return session, replica
    return database.session_factory(bind=engine), None


async def _on_replica(
    database: Database, replica: Replica, engine: AsyncEngine, required: int
) -> AsyncSession | None:
    """A session whose transaction began on `replica`, if it is fit to serve the read."""

    async def checked() -> tuple[AsyncSession, bool, str | None]:
        session = database.session_factory(bind=replica.variant(engine))
        try:
            connection = await session.connection()
            in_recovery, replayed = (await connection.execute(_CHECK)).one()
        except BaseException:
            await asyncio.shield(_close_quietly(session))
            raise
        return session, bool(in_recovery), replayed

    try:
        session, in_recovery, replayed = await retrying_stale(checked)
    except Exception as exc:
        database.replicas.set_aside(replica, f"failed at checkout ({type(exc).__name__})")
        return None
    if in_recovery and replayed is not None and parse_lsn(replayed) >= required:
        session.info[ROUTE_KEY] = REPLICA  # its reads may lag other commits: no cache fills
        return session
    await _close_quietly(session)
    if not in_recovery:
        database.replicas.set_aside(replica, "promoted: no longer in recovery")
    return None


async def _close_quietly(session: AsyncSession) -> None:
    try:
        await session.close()
    except Exception:
        logger.debug("closing a replica session failed", exc_info=True)


def failed_inside(database: Database, replica: Replica | None, exc: BaseException | None) -> None:
    """Set aside the replica a unit of work lost its connection to."""
    if replica is None or not isinstance(exc, Exception):
        return
    if isinstance(exc, DatabaseUnavailableError) or (
        is_database_error(exc) and isinstance(translate(exc), DatabaseUnavailableError)
    ):
        database.replicas.set_aside(replica, f"failed inside a unit ({type(exc).__name__})")


async def transaction_wrote(
    database: Database, session: AsyncSession, written_tables: frozenset[str]
) -> bool:
    """Whether the session's transaction wrote, asked before COMMIT (replicas only).

    Tables the framework recorded answer at once; otherwise the transaction wrote if it
    was given a transaction id (the caller's own SQL through `uow.session` included).
    """
    if not database.replicas:
        return False
    if written_tables:
        return True
    sync = session.sync_session
    transaction = sync.get_transaction()
    begun = sync.info.get(_BEGUN_KEY)
    if transaction is None or begun is None or begun() is not transaction:
        return False  # no statement ran in this transaction
    connection = await session.connection()
    return bool(await connection.scalar(_WROTE))


async def record_commit(database: Database) -> str:
    """Raise this context's position to the commit that just returned; return its token.

    If the position cannot be read, reads in this context go to the primary.
    """
    replicas = database.replicas
    try:
        position = await replicas.commit_position()
    except Exception as exc:
        logger.warning(
            "the WAL position after a commit could not be read (%s): reads in this context "
            "go to the primary",
            type(exc).__name__,
        )
        position = MAX_LSN
    raise_position(replicas.key, position)
    return format_lsn(position)


@event.listens_for(OrmSession, "after_begin")
def _note_begun(session: Session, _transaction: SessionTransaction, _conn: Connection) -> None:
    # a weak reference: the transaction refers to the session, whose info holds this,
    # and a cycle would leave every closed session to the garbage collector
    session.info[_BEGUN_KEY] = weakref.ref(session.get_transaction())
