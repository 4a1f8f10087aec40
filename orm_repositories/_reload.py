"""Keep the entities a session holds in step with statements that skipped the ORM.

`reload_held` is the one function that re-reads held copies after a bulk, atomic or
by-condition write; `ensure_loaded` loads columns a flush expired, so an entity can
be read after its unit of work ended without touching the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import inspect, select

from orm_core.translate import translating
from orm_repositories._keys import chunks, pk_in
from orm_repositories._target import Target, fetch_all

HeldMatch = Callable[[Any], bool]


async def reload_held(target: Target, match: HeldMatch) -> None:
    """Re-read, in one query per chunk, every held entity of the model that `match` accepts."""
    identity_map = target.session.sync_session.identity_map
    held = [
        _held_key(entity)
        for entity in list(identity_map.values())
        if isinstance(entity, target.model) and match(entity)
    ]
    for chunk in chunks(target, held):
        statement = select(target.model).where(pk_in(target, chunk))
        await fetch_all(target, statement.execution_options(populate_existing=True))


def has_expired_columns(target: Target) -> HeldMatch:
    """Match entities with column attributes a statement expired."""
    columns = set(target.info.fields)
    return lambda entity: bool(inspect(entity).unloaded & columns)


def holds_key(keys: Iterable[Any]) -> HeldMatch:
    """Match entities whose primary key is one of `keys`."""
    wanted = set(keys)
    return lambda entity: _held_key(entity) in wanted


def holds_values(fields: list[str], keys: Iterable[tuple[Any, ...]]) -> HeldMatch:
    """Match entities whose loaded `fields` hold one of the value tuples `keys`."""
    wanted = set(keys)

    def match(entity: Any) -> bool:
        loaded = inspect(entity).dict
        return all(k in loaded for k in fields) and tuple(loaded[k] for k in fields) in wanted

    return match


def _held_key(entity: Any) -> Any:
    """The key of a persistent entity, read from its identity (never from the database)."""
    identity: tuple[Any, ...] = tuple(inspect(entity).identity or ())
    return identity[0] if len(identity) == 1 else identity


async def ensure_loaded(target: Target, entities: Iterable[Any]) -> None:
    """Load column attributes a flush expired, so reads never need the database."""
    columns = target.info.fields.keys()
    for entity in entities:
        state = inspect(entity)
        missing = [k for k in state.unloaded if k in columns]
        if missing and state.persistent:
            with translating():
                await target.session.refresh(entity, attribute_names=missing)
