"""The transactional outbox: messages stored in the same transaction as the writes they announce.

`publish` inserts one `OutboxMessage` through a unit of work's session, so the message
commits or rolls back with the unit's other writes. `orm_core.outbox_relay.relay_outbox`
hands the committed, undelivered messages to the application afterwards, topic by topic,
in publication order.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Identity,
    Index,
    Integer,
    String,
    Table,
    insert,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from orm_core.errors import InvalidQueryError, TransactionError
from orm_core.events import set_publisher
from orm_core.models import Base
from orm_core.serialization import json_default
from orm_core.session import CONTEXT_KEY, record_write
from orm_core.translate import translating
from orm_core.types import UTCDateTime, utcnow

TOPIC_MAX_LENGTH = 200


class OutboxMessage(Base):
    """One published message; `delivered_at` stays NULL until a relay has delivered it.

    `id` grows with every publication (an identity column), so it gives the
    publication order a relay follows within a topic.
    """

    __tablename__ = "orm_outbox"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(TOPIC_MAX_LENGTH))
    # JSON, not JSONB: the payload comes back exactly as published (key order included)
    payload: Mapped[Any] = mapped_column(JSON(none_as_null=False))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    def __repr__(self) -> str:
        return f"OutboxMessage(id={self.id!r}, topic={self.topic!r})"


# the relay's two questions, "which topics have pending messages" and "the next pending
# messages of this topic, in order", read this index only; delivered rows leave it
Index(
    "ix_orm_outbox_pending",
    OutboxMessage.topic,
    OutboxMessage.id,
    postgresql_where=OutboxMessage.delivered_at.is_(None),
    sqlite_where=OutboxMessage.delivered_at.is_(None),
)


class Publisher(Protocol):
    """What `publish` needs of a unit of work."""

    read_only: bool

    @property
    def session(self) -> AsyncSession: ...


async def publish(target: Publisher | AsyncSession, topic: str, payload: Any) -> OutboxMessage:
    """Store a message for `topic` in the outbox, inside the transaction of `target`.

    `target` is a unit of work (inside its block) or a session. One INSERT, nothing
    flushed: the message commits with the unit's other writes and vanishes with a
    rollback. Decimals, UUIDs and datetimes in `payload` become strings as in `to_json`.
    Returns the stored message (not attached to the session).

    Raises:
        TransactionError: the unit of work is read-only or not active.
        InvalidQueryError: the topic is not a non-empty string of at most 200 characters
            without NUL, or the payload is not JSON-serialisable.
    """
    session = _writable_session(target)
    values = {
        "topic": _checked_topic(topic),
        "payload": _json_payload(topic, payload),
        "created_at": utcnow(),
    }
    table = cast(Table, OutboxMessage.__table__)
    # on the session's connection, in its transaction: the session would autoflush the
    # unit's pending objects before any statement it executes itself
    with translating():
        connection = await session.connection()
        result = await connection.execute(insert(table).values(values))
    record_write(session, table)
    assert result.inserted_primary_key is not None
    return OutboxMessage(id=result.inserted_primary_key[0], delivered_at=None, **values)


def _writable_session(target: Publisher | AsyncSession) -> AsyncSession:
    if isinstance(target, AsyncSession):
        unit = target.info.get(CONTEXT_KEY)
        unit = getattr(unit, "unit_of_work", None)
        session = target
    else:
        unit, session = target, target.session  # `session` raises outside the block
    if unit is not None and getattr(unit, "read_only", False):
        raise TransactionError("a read-only unit of work cannot publish outbox messages")
    return session


def _checked_topic(topic: Any) -> str:
    if not isinstance(topic, str) or not topic or len(topic) > TOPIC_MAX_LENGTH or "\x00" in topic:
        raise InvalidQueryError(
            f"an outbox topic is a non-empty string of at most {TOPIC_MAX_LENGTH} characters "
            "without NUL",
            {"field": "topic", "value": topic if isinstance(topic, str) else repr(topic)},
        )
    return topic


def _json_payload(topic: str, payload: Any) -> Any:
    """`payload` as JSON-native values (what it reads back as), or an `InvalidQueryError`."""
    try:
        text = json.dumps(payload, default=json_default, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidQueryError(
            f"the payload of an outbox message must be JSON-serialisable: {exc}",
            {"field": "payload", "topic": topic},
        ) from exc
    return json.loads(text)


# `on(..., outbox="topic")` publishes write events through it
set_publisher(publish)
