"""Idempotency keys: a request's answer stored in the same transaction as its work.

An HTTP layer (`orm_fastapi`) opens `idempotency_scope(request)` around a request that
carries a key. The first writing unit of work entered inside the scope claims the key
first thing in its transaction, by inserting the key's `IdempotencyRecord`: a concurrent
request with the same key blocks on that insert (PostgreSQL's unique index; SQLite's single
writer) until the first one commits or rolls back. A clean exit of that unit does not
commit: the unit is held until the HTTP layer knows the answer, writes it into the row
and commits both together. A key already answered makes the unit raise
`StoredAnswerError` carrying the stored answer, having written nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Integer, LargeBinary, String, Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from orm_core.dialects import backend_of_session
from orm_core.errors import InvalidQueryError, TransactionConflictError, TransactionError
from orm_core.models import Base
from orm_core.tenancy import ALL_TENANTS
from orm_core.translate import translating
from orm_core.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from orm_core.unit_of_work import UnitOfWork

KEY_MAX_LENGTH = 255
DEFAULT_TTL = timedelta(hours=24)


class IdempotencyRecord(Base):
    """One idempotency key of one scope (tenant, method, path) and the answer it got.

    `id` is a digest of the scope and the key, so one primary-key lookup finds a key
    whatever the lengths of its path and key. Rows are kept until `expires_at`.
    """

    __tablename__ = "orm_idempotency_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH))
    tenant: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(2000))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer())
    body: Mapped[bytes | None] = mapped_column(LargeBinary())
    headers: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"IdempotencyRecord(method={self.method!r}, path={self.path!r}, key={self.key!r})"


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The answer stored for a key: status, body and the headers worth repeating."""

    status: int
    body: bytes
    headers: Mapping[str, str]


class StoredAnswerError(Exception):
    """The request's key was answered already: give `answer` back instead of working.

    Raised by the unit of work that tried to claim the key, after rolling back; it is a
    signal for the HTTP layer, not an `OrmError`, so error handlers leave it alone.
    """

    def __init__(self, answer: StoredAnswer) -> None:
        super().__init__("the idempotency key was answered already")
        self.answer = answer


@dataclass(eq=False, slots=True)
class IdempotentRequest:
    """One request's idempotency key, and the unit of work that claimed it.

    Built inactive per request; `activate` gives it its key. `fingerprint` identifies
    the request's content (its body): the same key with another content is refused.
    """

    ttl: timedelta = DEFAULT_TTL
    key: str | None = None
    method: str = ""
    path: str = ""
    fingerprint: str = ""
    unit: UnitOfWork | None = field(default=None, repr=False)
    held: bool = False
    # answered: units of work entered later (on_commit callbacks) claim nothing
    done: bool = False

    def activate(self, key: str, *, method: str, path: str, fingerprint: str) -> None:
        """Give the request its key; the next writing unit of work claims it.

        Raises:
            InvalidQueryError: an empty key, or one longer than 255 characters.
        """
        if not 0 < len(key) <= KEY_MAX_LENGTH or "\x00" in key:
            raise InvalidQueryError(
                f"an idempotency key has 1 to {KEY_MAX_LENGTH} characters",
                {"field": "Idempotency-Key", "length": len(key)},
            )
        self.key, self.method, self.path, self.fingerprint = key, method, path, fingerprint

    @property
    def active(self) -> bool:
        """Whether the request has a key to claim."""
        return self.key is not None

    async def finish(self, answer: StoredAnswer) -> None:
        """Store `answer` (a success) with the held unit's work and commit both together."""
        unit, self.unit, self.held, self.done = self.unit, None, False, True
        if unit is None:
            return
        table = _table()
        values = {"status": answer.status, "body": answer.body, "headers": dict(answer.headers)}
        try:
            with translating():
                await unit.session.execute(
                    update(table).where(table.c.id == self._id(unit)).values(values)
                )
        except BaseException as exc:
            await unit.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        await unit.__aexit__(None, None, None)  # commits: the unit is no longer held

    async def abandon(self) -> None:
        """Roll the held unit's work back: the request failed after its unit ended.

        Work and answer commit together or not at all, so a client retrying after an
        error never has the work done twice.
        """
        unit, self.unit, self.held, self.done = self.unit, None, False, True
        if unit is not None:
            error = RuntimeError("the idempotent request failed after its unit of work")
            await unit.__aexit__(RuntimeError, error, None)

    def _id(self, unit: UnitOfWork) -> str:
        # the actor too: one user's key never answers another user of the same tenant
        scope = (_tenant_text(unit.tenant), unit.actor or "", self.method, self.path)
        parts = (*scope, self.key or "")
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()

    async def _claim(self, unit: UnitOfWork) -> StoredAnswer | None:
        """Insert the key's row first thing in `unit`'s transaction; the stored answer if taken."""
        session, table, now = unit.session, _table(), utcnow()
        ident = self._id(unit)
        backend = backend_of_session(session)
        row = {
            "id": ident,
            "key": self.key,
            "tenant": _tenant_text(unit.tenant),
            "method": self.method,
            "path": self.path[:2000],
            "fingerprint": self.fingerprint,
            "created_at": now,
            "expires_at": now + self.ttl,
        }
        with translating():
            # an expired row is purged where it is met, then the key is free again
            await session.execute(
                delete(table).where(table.c.id == ident, table.c.expires_at <= now)
            )
            insert = backend.on_conflict_nothing(
                backend.upsert_insert(table).values(row), [table.c.id]
            )
            if (await session.execute(insert)).rowcount == 1:  # type: ignore[attr-defined]
                return None
            return await self._stored(session, ident)

    async def _stored(self, session: AsyncSession, ident: str) -> StoredAnswer:
        table = _table()
        columns = (table.c.fingerprint, table.c.status, table.c.body, table.c.headers)
        found = (await session.execute(select(*columns).where(table.c.id == ident))).one_or_none()
        if found is None or found.status is None:
            # the row was written by a transaction this one cannot see yet: try again
            raise TransactionConflictError("the idempotency key is being answered; retry")
        if found.fingerprint != self.fingerprint:
            raise InvalidQueryError(
                "the idempotency key was used for a different request",
                {"field": "Idempotency-Key"},
            )
        return StoredAnswer(found.status, found.body or b"", dict(found.headers or {}))


_current: ContextVar[IdempotentRequest | None] = ContextVar("orm_idempotency", default=None)


@contextmanager
def idempotency_scope(request: IdempotentRequest) -> Iterator[IdempotentRequest]:
    """Make `request` the idempotent request of the units of work entered in the block."""
    token = _current.set(request)
    try:
        yield request
    finally:
        _current.reset(token)


async def join(unit: UnitOfWork) -> None:
    """Claim the scope's key in `unit`'s transaction when it is the request's first writer.

    Raises:
        StoredAnswerError: the key was answered already (the caller rolls back).
        InvalidQueryError: the key was used with another request content.
        TransactionError: a second writing unit of work while the first is held.
    """
    request = _current.get()
    if request is None or unit.read_only or not request.active or request.done:
        return
    if request.held:
        # its transaction holds the key and maybe rows or (SQLite) the write lock until
        # the answer is known: a second writer would wait for it forever
        raise TransactionError(
            "an idempotent request writes in one unit of work: the first one's commit waits "
            "for the request's answer"
        )
    if request.unit is not None:
        return  # a unit entered earlier and still open claimed the key
    request.unit = unit  # before any await: a unit entered concurrently does not claim too
    try:
        answer = await request._claim(unit)
    except BaseException:
        request.unit = None
        raise
    if answer is not None:
        request.unit, request.done = None, True
        raise StoredAnswerError(answer)


def hold(unit: UnitOfWork, *, failed: bool) -> bool:
    """Whether `unit` must stay open, uncommitted, for the request's answer.

    A unit that failed releases its claim (its rollback frees the key), so a retry of the
    work in a new unit of work claims the key again.
    """
    request = _current.get()
    if request is None or request.unit is not unit:
        return False
    if failed:
        request.unit = None
        return False
    request.held = True
    return True


def _table() -> Table:
    return cast(Table, IdempotencyRecord.__table__)


def _tenant_text(tenant: Any) -> str:
    if tenant is None:
        return ""
    return "*" if tenant is ALL_TENANTS else str(tenant)
