"""What one repository call works on, and the one place its statements are executed.

Every statement a repository sends goes through `execute` (or `connection` for the
bulk paths), inside `translating()`: driver errors become `OrmError`s in one place.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal

from sqlalchemy import Table, inspect
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql import Executable

from orm_core.dialects import Backend, backend_of_session
from orm_core.errors import InvalidQueryError
from orm_core.fields import ModelInfo, model_info
from orm_core.session import context_of, record_write
from orm_core.translate import translating

Scope = Literal["active", "all", "deleted"]


@dataclass(frozen=True, slots=True)
class Target:
    """A repository's session, model and scope, with the backend it talks to."""

    session: AsyncSession
    model: type[Any]
    info: ModelInfo
    backend: Backend
    scope: Scope = "active"
    tenant: Any = None

    @classmethod
    def of(cls, session: AsyncSession, model: type[Any], scope: Scope = "active") -> Target:
        """Describe `model` on `session` (its unit of work's tenant included)."""
        tenant = context_of(session).tenant
        return cls(session, model, model_info(model), backend_of_session(session), scope, tenant)

    def widened(self, scope: Scope) -> Target:
        """The same target with another soft-delete scope."""
        return replace(self, scope=scope)

    @property
    def table(self) -> Table:
        """The model's single table (bulk and atomic statements need one)."""
        return self.info.single_table()

    def wrote(self) -> None:
        """Note that this call wrote to the model's table."""
        record_write(self.session, self.table)


async def execute(target: Target, statement: Executable, params: Any = None) -> Result[Any]:
    """Run a statement on the target's session."""
    with translating():
        return await target.session.execute(statement, params)


async def execute_write(target: Target, statement: Executable, params: Any = None) -> Result[Any]:
    """Run a statement that writes to the target's table, recording the write."""
    target.wrote()
    return await execute(target, statement, params)


async def write_connection(target: Target) -> AsyncConnection:
    """The session's connection for Core statements that write to the target's table."""
    target.wrote()
    return await connection(target)


async def fetch_all(
    target: Target, statement: Executable, params: Any = None, *, write: bool = False
) -> list[Any]:
    """Run a statement returning entities (a SELECT, or a write with RETURNING); all of them."""
    if write:
        target.wrote()
    with keeping_relationships(target, statement):
        # unique(): a collection joined by a loader option repeats its parent's row
        return list((await execute(target, statement, params)).unique().scalars().all())


async def fetch_first(
    target: Target, statement: Executable, params: Any = None, *, write: bool = False
) -> Any:
    """Run a statement returning entities; the first, or None."""
    if write:
        target.wrote()
    with keeping_relationships(target, statement):
        return (await execute(target, statement, params)).unique().scalars().first()


async def fetch_rows(target: Target, statement: Executable) -> list[Any]:
    """Run a SELECT of entities with extra columns; its rows, entity first."""
    with keeping_relationships(target, statement):
        return list((await execute(target, statement)).unique().all())


@contextmanager
def keeping_relationships(target: Target, statement: Executable) -> Iterator[None]:
    """Keep the relationships held entities had loaded across a refreshing statement.

    `populate_existing` (a locking read, RETURNING after a write, a reload) rewrites
    every attribute of the entities it returns, and leaves their relationships
    unloaded; what was loaded before is put back, so a write never makes a loaded
    collection raise `RelationshipNotLoadedError`.
    """
    options = statement.get_execution_options()
    if not options.get("populate_existing") or not target.info.relationships:
        yield
        return
    names = target.info.relationships
    kept = []
    for entity in list(target.session.sync_session.identity_map.values()):
        if isinstance(entity, target.model):
            loaded = inspect(entity).dict
            values = {k: loaded[k] for k in names if k in loaded}
            if values:
                kept.append((entity, values))
    yield
    for entity, values in kept:
        loaded = inspect(entity).dict
        for key, value in values.items():
            if key not in loaded:
                set_committed_value(entity, key, value)


async def flush(target: Target) -> None:
    """Flush the session's pending changes."""
    with translating():
        await target.session.flush()


async def connection(target: Target) -> AsyncConnection:
    """The session's connection, for Core statements that skip the ORM."""
    with translating():
        return await target.session.connection()


def non_negative(name: str, value: Any) -> int:
    """Check an integer argument such as `limit` or `offset`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidQueryError(f"{name} must be a non-negative integer", {name: value})
    return value


def names_list(value: Any, what: str, *, allow_empty: bool = False) -> list[str]:
    """A field name or a list of them, as a list without repeats."""
    names: Sequence[Any] = [value] if isinstance(value, str) else value
    if not isinstance(names, Sequence) or not all(isinstance(n, str) for n in names):
        raise InvalidQueryError(f"{what} takes a field name or a list of field names")
    if not names and not allow_empty:
        raise InvalidQueryError(f"{what} must name at least one field")
    return list(dict.fromkeys(names))
