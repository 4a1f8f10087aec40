"""`relay_outbox`: hand the pending outbox messages to the application, topic by topic, in order.

A relay serves one topic at a time and marks each message delivered right after `deliver`
returns, in a statement that commits at once, so a crash re-delivers at most the message
being delivered. How relays keep out of each other's way is the backend's answer
(`Backend.topic_locks`):

- **With topic locks** (PostgreSQL): the relay holds one connection in autocommit mode and
  takes a session-level advisory lock per topic (skipping a topic another relay holds). No
  transaction is open while `deliver` runs; the lock dies with the relay's connection.
- **Without** (SQLite): each delivery runs inside a write transaction that first checks
  the message is still pending (with its row locked where the database has row locks; on
  SQLite `BEGIN IMMEDIATE` takes the database's one write lock), then delivers, marks and
  commits. Relays there take turns message by message, and writers wait while a message is
  being delivered.

A relay only looks at messages published before it started (ids up to the largest one it
sees first), so it ends even while publishers keep writing.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Row, Select, Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from orm_core.database import Database
from orm_core.dialects import Backend
from orm_core.errors import InvalidQueryError
from orm_core.outbox import OutboxMessage
from orm_core.translate import translating
from orm_core.types import utcnow

logger = logging.getLogger(__name__)

Deliver = Callable[[OutboxMessage], Awaitable[Any] | Any]

_TABLE: Table = OutboxMessage.__table__  # type: ignore[assignment]
_PENDING = _TABLE.c.delivered_at.is_(None)


async def relay_outbox(db: Database, deliver: Deliver, *, batch_size: int = 100) -> int:
    """Hand every pending outbox message to `deliver`, mark it delivered, return how many.

    Messages reach `deliver` (sync or async) in publication order within each topic,
    one topic at a time; each is marked delivered right after `deliver` returns. When
    `deliver` raises, that message and the later ones of its topic stay pending, the
    relay goes on with the other topics and raises the first error at the end (the
    messages delivered meanwhile stay marked). Topics another relay is serving are
    skipped. `batch_size` bounds how many messages one read fetches.

    Raises:
        InvalidQueryError: `batch_size` is not a positive integer.
        DatabaseUnavailableError: the connection was lost (the message being delivered
            stays pending and is delivered again later).
        OrmError: any other database failure of the relay's own statements.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidQueryError("batch_size must be a positive integer", {"batch_size": batch_size})
    relay = _Relay(db.backend, deliver, batch_size)
    async with _relay_connection(db) as connection:
        await relay.run(connection)
    if relay.first_error is not None:
        raise relay.first_error
    return relay.delivered


class _Relay:
    """One `relay_outbox` call: what it delivered and the first error `deliver` raised."""

    def __init__(self, backend: Backend, deliver: Deliver, batch_size: int) -> None:
        self.backend = backend
        self.deliver = deliver
        self.batch_size = batch_size
        self.delivered = 0
        self.first_error: Exception | None = None

    async def run(self, connection: AsyncConnection) -> None:
        last = (await _fetch(connection, select(func.max(_TABLE.c.id))))[0][0]
        if last is None:
            return
        topic: str | None = None
        while (topic := await _next_topic(connection, topic, last)) is not None:
            if self.backend.topic_locks:
                with translating():
                    held = await self.backend.try_topic_lock(connection, topic)
                    await connection.commit()
                if not held:
                    continue  # another relay serves it
            # on an error the connection is discarded, which releases its locks
            await self._serve(connection, topic, last)
            if self.backend.topic_locks:
                with translating():
                    await self.backend.release_topic_lock(connection, topic)
                    await connection.commit()

    async def _serve(self, connection: AsyncConnection, topic: str, last: int) -> None:
        while True:
            statement = (
                select(_TABLE.c.id, _TABLE.c.topic, _TABLE.c.payload, _TABLE.c.created_at)
                .where(_TABLE.c.topic == topic, _PENDING, _TABLE.c.id <= last)
                .order_by(_TABLE.c.id)
                .limit(self.batch_size)
            )
            batch = await _fetch(connection, statement)
            for row in batch:
                message = OutboxMessage(**row._mapping, delivered_at=None)
                if not await self._deliver_one(connection, message):
                    return
                self.delivered += 1
            if len(batch) < self.batch_size:
                return

    async def _deliver_one(self, connection: AsyncConnection, message: OutboxMessage) -> bool:
        """Deliver and mark one message; False when the topic must stop here."""
        if not self.backend.topic_locks and not await self._still_pending(connection, message):
            return False  # another relay got to it first: that relay now serves the topic
        try:
            result = self.deliver(message)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            logger.warning(
                "delivering outbox message %s of topic %r failed; it stays pending",
                message.id, message.topic, exc_info=True,
            )  # fmt: skip
            if self.first_error is None:
                self.first_error = exc
            with translating():
                await connection.rollback()
            return False
        delivered_at = utcnow()
        with translating():
            marked = update(_TABLE).where(_TABLE.c.id == message.id)
            await connection.execute(marked.values(delivered_at=delivered_at))
            await connection.commit()
        message.delivered_at = delivered_at
        return True

    async def _still_pending(self, connection: AsyncConnection, message: OutboxMessage) -> bool:
        # opens the write transaction the delivery runs in (BEGIN IMMEDIATE on SQLite)
        statement = select(_TABLE.c.id).where(_TABLE.c.id == message.id, _PENDING)
        locked = self.backend.lock(statement, nowait=False, skip_locked=False)
        with translating():
            pending = (await connection.execute(locked)).first() is not None
            if not pending:
                await connection.rollback()
        return pending


async def _next_topic(connection: AsyncConnection, after: str | None, last: int) -> str | None:
    """The first topic after `after` with a pending message up to id `last`."""
    statement = select(_TABLE.c.topic).where(_PENDING, _TABLE.c.id <= last)
    if after is not None:
        statement = statement.where(_TABLE.c.topic > after)
    rows = await _fetch(connection, statement.order_by(_TABLE.c.topic).limit(1))
    return str(rows[0][0]) if rows else None


async def _fetch(connection: AsyncConnection, statement: Select[Any]) -> list[Row[Any]]:
    """Run one read in its own transaction."""
    with translating():
        rows = list((await connection.execute(statement)).all())
        await connection.commit()
    return rows


@asynccontextmanager
async def _relay_connection(db: Database) -> AsyncIterator[AsyncConnection]:
    """The relay's connection, on the primary; discarded (not pooled) after any error.

    Discarding closes the database session, so the server releases the relay's topic
    locks and rolls back whatever was open, even when the error was a cancellation.
    """
    with translating():
        connection = await db.engine.connect()
    try:
        with translating():
            await connection.execution_options(**db.backend.relay_options())
        yield connection
    except BaseException:
        await asyncio.shield(_discard(connection))
        raise
    with translating():
        await connection.close()


async def _discard(connection: AsyncConnection) -> None:
    try:
        await connection.invalidate()
        await connection.close()
    except Exception:
        logger.warning("discarding an outbox relay's connection failed", exc_info=True)
