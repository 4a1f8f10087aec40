"""`UnitOfWork`: one session, one transaction, commit on success, rollback on error."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from orm_core import idempotency, outbox
from orm_core.caching.invalidation import invalidate_written
from orm_core.database import Database
from orm_core.errors import CommitUnknownError, OrmError, TransactionError
from orm_core.events import fire_after_commit
from orm_core.read_routing import (
    failed_inside,
    open_session,
    read_routing,
    record_commit,
    transaction_wrote,
)
from orm_core.registry import build_repository, repository_annotations
from orm_core.replicas import Replica
from orm_core.session import CONTEXT_KEY, SessionContext, has_pending, nested
from orm_core.tenancy import check_actor, check_schema, check_tenant
from orm_core.timeouts import check_timeouts
from orm_core.translate import is_database_error, translate, translating

logger = logging.getLogger(__name__)

RepoT = TypeVar("RepoT")
OnCommit = Callable[[], Awaitable[Any] | Any]

_ISOLATION_LEVELS = frozenset(
    {"READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE", "AUTOCOMMIT"}
)


class UnitOfWork:
    """Own a session and its transaction for the length of an `async with` block.

    Example:
        class ShopUnitOfWork(UnitOfWork):
            products: ProductRepository

        async with ShopUnitOfWork(db) as uow:
            await uow.products.create(sku="A-1", name="Widget", price=Decimal("9.99"))

    A clean exit commits; an exception rolls back and propagates. Repositories
    annotated on the class are built on first use, bound to the block's session.
    On a database with read replicas a read-only unit reads from one (unless
    `replica=False`) that has replayed this context's commits and the `after` token.
    """

    _annotations: ClassVar[dict[type[UnitOfWork], dict[str, Any]]] = {}

    def __init__(
        self,
        database: Database,
        *,
        read_only: bool = False,
        isolation_level: str | None = None,
        tenant: Any = None,
        actor: str | None = None,
        schema: str | None = None,
        statement_timeout: float | None = None,
        lock_timeout: float | None = None,
        replica: bool = True,
        after: str | None = None,
    ) -> None:
        if isolation_level is not None and isolation_level.upper() not in _ISOLATION_LEVELS:
            raise TransactionError(
                f"unknown isolation level {isolation_level!r}",
                {"allowed": sorted(_ISOLATION_LEVELS)},
            )
        self.database = database
        self.read_only = read_only
        self.isolation_level = isolation_level.upper() if isolation_level else None
        self.tenant = check_tenant(tenant)
        self.actor = check_actor(actor)
        self.schema = check_schema(schema)
        self.timeouts = check_timeouts(statement_timeout, lock_timeout)
        self._session: AsyncSession | None = None
        self._context: SessionContext | None = None
        self._repositories: dict[object, Any] = {}
        self._on_commit: list[OnCommit] = []
        # -- read replicas (orm_core.read_routing): where a read-only unit reads --
        self._routing = read_routing(
            read_only=read_only,
            replica=replica,
            isolation_level=self.isolation_level,
            after=after,
        )
        self._replica: Replica | None = None
        self._consistency_token: str | None = None

    @property
    def consistency_token(self) -> str | None:
        """The WAL position of this unit's last commit that wrote, as text ("0/3016038").

        Give it back as `UnitOfWork(db, read_only=True, after=token)` — in another request
        or process — to read at least that commit. None before such a commit, and always
        None on a database without replicas.
        """
        return self._consistency_token

    @property
    def replica_index(self) -> int | None:
        """Which of the database's replicas the block reads from (None: the primary)."""
        return self._replica.index if self._replica is not None else None

    @property
    def session(self) -> AsyncSession:
        """The block's session; raises `TransactionError` outside `async with`."""
        if self._session is None:
            raise TransactionError("the unit of work is not active: use it inside `async with`")
        return self._session

    @property
    def written_tables(self) -> frozenset[str]:
        """Tables the current transaction wrote to, by any path (flushes and bulk statements)."""
        return frozenset(self._context.written_tables) if self._context else frozenset()

    @property
    def active(self) -> bool:
        """Whether the unit of work is inside its `async with` block."""
        return self._session is not None

    async def __aenter__(self) -> Self:
        if self._session is not None:
            raise TransactionError("the unit of work is already active")
        engine = self.database.engine_for(
            isolation_level=self.isolation_level,
            read_only=self.read_only,
            schema=self.schema,
            timeouts=self.timeouts,
        )
        self._consistency_token = None
        session, self._replica = await open_session(self.database, engine, self._routing)
        self._context = SessionContext(unit_of_work=self, tenant=self.tenant, actor=self.actor)
        session.info[CONTEXT_KEY] = self._context
        self._session = session
        try:
            await idempotency.join(self)  # an idempotent request's key is claimed first
        except BaseException:
            await _shielded(self._close(rollback=True))
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        failed_inside(self.database, self._replica, exc)  # a lost replica is set aside
        if not self.read_only and idempotency.hold(self, failed=exc is not None):
            return  # committed later, together with the request's answer
        try:
            if exc is None and not self.read_only:
                await self.commit()
        finally:
            # closing ends a read-only transaction without expiring what it loaded
            await _shielded(self._close(rollback=exc is not None))
        if (
            isinstance(exc, Exception)
            and not isinstance(exc, OrmError)
            and is_database_error(exc, network=False)
        ):
            # a driver error raised by the caller's own statements inside the block
            raise translate(exc) from exc

    async def commit(self) -> None:
        """Flush and commit; then run the `on_commit` callbacks registered so far.

        Raises:
            TransactionConflictError: the database aborted the commit over a conflict.
            CommitUnknownError: the connection died during COMMIT.
            TransactionError: the unit of work is read-only or not active.
        """
        session = self.session
        if self.read_only:
            raise TransactionError("a read-only unit of work never commits")
        with translating():
            sync = session.sync_session
            if has_pending(sync):
                # nothing pending (a write through a repository method): no round through
                # the flush while the transaction may hold row locks
                await session.flush()
            wrote = await transaction_wrote(self.database, session, self.written_tables)
        try:
            with translating(during_commit=True):
                await session.commit()
        except CommitUnknownError:
            await self._invalidate_cache()  # the commit may have happened
            raise
        # the cache forgets what this commit changed before anyone is told it happened
        await self._invalidate_cache()
        if wrote:  # read-your-writes: the commit's WAL position (orm_core.read_routing)
            self._consistency_token = await record_commit(self.database)
        committed = list(self._context.events) if self._context else []
        self._transaction_ended()
        callbacks, self._on_commit = self._on_commit, []
        if committed:
            callbacks.insert(0, partial(fire_after_commit, self, committed))
        await _run_callbacks(callbacks)

    async def rollback(self) -> None:
        """Roll back the current transaction and forget pending `on_commit` callbacks."""
        session = self.session
        self._on_commit.clear()
        self._transaction_ended()
        with translating():
            await session.rollback()

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """Run the block in a nested transaction; an exception rolls back to it only."""
        session = self.session
        with translating(network=False):
            async with nested(session):
                yield

    def on_commit(self, callback: OnCommit) -> None:
        """Run `callback` (sync or async) once after the next successful commit."""
        self.session  # noqa: B018 - raises outside the block
        self._on_commit.append(callback)

    async def publish(self, topic: str, payload: Any) -> outbox.OutboxMessage:
        """Store an outbox message for `topic` in this unit's transaction (`orm_core.outbox`).

        Raises:
            TransactionError: the unit of work is read-only or not active.
            InvalidQueryError: a bad topic, or a payload that is not JSON-serialisable.
        """
        return await outbox.publish(self, topic, payload)

    def repository(self, target: type[RepoT] | Any) -> Any:
        """Return a repository bound to this unit of work's session.

        `target` is a repository class (`AsyncRepository[Model]` included) or a model.
        """
        session = self.session
        repo = self._repositories.get(target)
        if repo is None:
            repo = build_repository(target, session)
            self._repositories[target] = repo
        return repo

    def __getattr__(self, name: str) -> Any:
        annotations = UnitOfWork._annotations.get(type(self))
        if annotations is None:
            annotations = UnitOfWork._annotations[type(self)] = repository_annotations(type(self))
        target = annotations.get(name)
        if target is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return self.repository(target)

    async def _invalidate_cache(self) -> None:
        written = set(self._context.written) if self._context else set()
        if written and getattr(self.database, "cache", None) is not None:
            await _shielded(invalidate_written(self.database, written, self.schema))

    def _transaction_ended(self) -> None:
        if self._context is not None:
            self._context.written_tables.clear()
            self._context.written.clear()
            self._context.events.clear()

    async def _close(self, *, rollback: bool) -> None:
        session, self._session = self._session, None
        self._context = None
        self._repositories.clear()
        self._on_commit.clear()
        if session is None:
            return
        try:
            if rollback:
                await session.rollback()
        except Exception:
            logger.warning("rollback failed while closing a unit of work", exc_info=True)
        finally:
            try:
                await session.close()
            except Exception:
                logger.warning("closing a session failed", exc_info=True)


async def _shielded(coro: Awaitable[None]) -> None:
    """Finish `coro` even if the calling task is cancelled meanwhile, then re-raise."""
    task = asyncio.ensure_future(coro)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    task.result()
    if cancelled:
        raise asyncio.CancelledError


async def _run_callbacks(callbacks: list[OnCommit]) -> None:
    first_error: BaseException | None = None
    for callback in callbacks:
        try:
            result = callback()
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            logger.exception("on_commit callback %r failed", callback)
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
