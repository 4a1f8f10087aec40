"""The session class the framework opens, and the context a unit of work hands it.

Repositories are built on a session, so what a unit of work knows (itself, and
later its tenant and actor) travels with the session as a `SessionContext` in
`session.info`. The session records every table it writes: ORM flushes here, the
framework's own statements through `record_write`. That set is the one place a
rule about "what did this unit of work change" (cache invalidation) reads from.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, event, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, ORMExecuteState, PassiveFlag, Session, UOWTransaction
from sqlalchemy.orm.attributes import get_history

from orm_core.models import TenantMixin
from orm_core.tenancy import scope_session_statement
from orm_core.translate import translating

CONTEXT_KEY = "orm_context"


@dataclass(eq=False, slots=True)
class SessionContext:
    """What the repositories on a session know about the unit of work around them.

    `tenant` is a tenant id, `ALL_TENANTS`, or None (no tenant: tenant models refuse
    to work); `events` are the `after_*` write events since the last commit, for the
    `after_commit` handlers.
    """

    unit_of_work: Any = None
    written_tables: set[str] = field(default_factory=set)
    # the same tables as objects, for cache invalidation (versions, cascades)
    written: set[Table] = field(default_factory=set)
    tenant: Any = None
    actor: str | None = None
    events: list[Any] = field(default_factory=list)


class OrmSession(Session):
    """The synchronous session behind every `AsyncSession` a `Database` opens."""


def context_of(session: AsyncSession | Session) -> SessionContext:
    """Return the session's context, creating an empty one for a bare session."""
    info = session.info
    context = info.get(CONTEXT_KEY)
    if context is None:
        context = info[CONTEXT_KEY] = SessionContext()
    assert isinstance(context, SessionContext)
    return context


@asynccontextmanager
async def nested(session: AsyncSession) -> AsyncIterator[None]:
    """A savepoint; rolling it back also forgets the write events fired inside it.

    The savepoint's own SQL is translated; what the block raises passes as it is.
    """
    events = context_of(session).events
    mark = len(events)
    with translating():
        transaction = await session.begin_nested()
    try:
        yield
        # flush what the block left pending here, so a change that fails rolls back to
        # the savepoint like any other error of the block (releasing it would flush too)
        with translating():
            await session.flush()
    except BaseException:
        del events[mark:]
        # a failed flush leaves the savepoint inactive but still to be rolled back
        sync = transaction.sync_transaction
        if sync is not None and sync._rollback_can_be_called():
            with translating():
                await transaction.rollback()
        raise
    if transaction.is_active:
        with translating():
            await transaction.commit()


def has_pending(session: Session) -> bool:
    """Whether the session holds changes a flush would write (new, changed or deleted)."""
    return bool(session.new or session.deleted or session.dirty)


def record_write(session: AsyncSession | Session, table: Table) -> None:
    """Note that the session's transaction wrote to `table`."""
    context = context_of(session)
    context.written_tables.add(table.fullname)
    context.written.add(table)


def mapper_tables(mapper: Mapper[Any]) -> list[Table]:
    """The tables a flush of one of `mapper`'s entities may write (association tables too)."""
    found = [t for t in mapper.tables if isinstance(t, Table)]
    for relationship in mapper.relationships:
        secondary = relationship.secondary
        if isinstance(secondary, Table):
            found.append(secondary)
    return found


@event.listens_for(OrmSession, "do_orm_execute")
def _scope_to_tenant(state: ORMExecuteState) -> None:
    context = state.session.info.get(CONTEXT_KEY)
    if context is not None and context.unit_of_work is not None:
        scope_session_statement(state, context.tenant, TenantMixin)


@event.listens_for(OrmSession, "do_orm_execute")
def _record_dml(state: ORMExecuteState) -> None:
    # the caller's own INSERT/UPDATE/DELETE through the session writes its table too
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if isinstance(table, Table):
            record_write(state.session, table.metadata.tables.get(table.key, table))


_UNLOADED = PassiveFlag.PASSIVE_NO_INITIALIZE  # history without loading anything


@event.listens_for(OrmSession, "after_flush")
def _record_flushed(session: Session, _flush: UOWTransaction) -> None:
    deleted = set(map(id, session.deleted))
    for entity in (*session.new, *session.dirty, *session.deleted):
        state = inspect(entity)
        for table in state.mapper.tables:
            if isinstance(table, Table):
                record_write(session, table)
        # a collection through an association table writes that table's rows (the history
        # through `get_history`: `state.attrs` would leave a reference cycle on the state)
        for relationship in state.mapper.relationships:
            secondary = relationship.secondary
            if not isinstance(secondary, Table):
                continue
            if id(entity) in deleted or _changed(entity, relationship.key):
                record_write(session, secondary)


def _changed(entity: Any, key: str) -> bool:
    return bool(get_history(entity, key, _UNLOADED).has_changes())
