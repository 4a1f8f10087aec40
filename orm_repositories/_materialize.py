"""Entities from the row a Core `UPDATE … RETURNING` gave back, without the ORM's loader.

The ORM builds its row loader for every query it runs, which costs as much as the
statement's round trip; a single-row update pays it while the row is locked. Here the
returned columns are set on the copy the session holds, as `populate_existing` would,
or on a new persistent entity made as SQLAlchemy's loader makes one. Models whose
loading does more (load or refresh listeners, a reconstructor, polymorphic or
inherited mappings, relationships loaded eagerly by default) keep the ORM's loader.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Mapper
from sqlalchemy.orm.attributes import set_committed_value

from orm_core.fields import ModelInfo
from orm_core.session import has_pending
from orm_core.translate import translating
from orm_repositories._target import Target, fetch_first, flush, write_connection

# relationship strategies that load nothing when an entity is loaded
_LAZY = frozenset(
    {"select", True, "raise", "raise_on_sql", "noload", None, "write_only", "dynamic"}
)
_PLAIN: dict[type, Mapper[Any] | None] = {}
_KEY_POSITIONS: dict[type, list[int]] = {}


def core_returning(target: Target) -> bool:
    """Whether a single-row UPDATE of `target` is a Core `UPDATE … RETURNING` whose row
    `fetch_updated` reads (one table, a backend that returns updated rows)."""
    return target.backend.update_returning and target.info.table is not None


def returned_columns(info: ModelInfo) -> list[Any]:
    """The columns a single-row UPDATE returns: every mapped field, in field order."""
    return [field.column for field in info.fields.values()]


async def fetch_updated(target: Target, statement: Any, params: Any) -> Any:
    """Run a Core UPDATE returning `returned_columns`; the updated entity, or None."""
    sync = target.session.sync_session
    mapper = _plain_mapper(target.info)
    if mapper is None or sync.dispatch.loaded_as_persistent:
        loaded = select(target.model).from_statement(statement)
        options = loaded.execution_options(populate_existing=True)
        return await fetch_first(target, options, params, write=True)
    if sync.autoflush and has_pending(sync):
        await flush(target)  # as the ORM's autoflush would before a query
    connection = await write_connection(target)
    with translating():
        row = (await connection.execute(statement, params)).first()
    if row is None:
        return None
    info = target.info
    pk = tuple(row[index] for index in _key_positions(info))
    identity = mapper.identity_key_from_primary_key(pk)
    held = sync.identity_map.get(identity)
    if held is not None:
        for key, value in zip(info.fields, row, strict=True):
            set_committed_value(held, key, value)
        return held
    # a new persistent entity, made as SQLAlchemy's loader makes one (`loading._instance`):
    # its columns set without history, its identity key set, added to the identity map
    entity = mapper.class_manager.new_instance()
    state = inspect(entity)
    state.dict.update(zip(info.fields, row, strict=True))
    state.key = identity
    state.identity_token = None
    state.session_id = sync.hash_key
    sync.identity_map._add_unpresent(state, identity)
    return entity


def _key_positions(info: ModelInfo) -> list[int]:
    """Where the primary key's fields are among the returned columns (kept per model)."""
    positions = _KEY_POSITIONS.get(info.model)
    if positions is None:
        keys = list(info.fields)
        positions = _KEY_POSITIONS[info.model] = [keys.index(f.key) for f in info.primary_key]
    return positions


def _plain_mapper(info: ModelInfo) -> Mapper[Any] | None:
    """The model's mapper if loading an entity is only setting its column values."""
    if info.model not in _PLAIN:
        mapper: Mapper[Any] = inspect(info.model)
        simple = (
            info.table is not None
            and mapper.inherits is None
            and mapper.polymorphic_on is None
            and not mapper.with_polymorphic
            and all(r.lazy in _LAZY for r in mapper.relationships)
        )
        _PLAIN[info.model] = mapper if simple else None
    found = _PLAIN[info.model]
    if found is None:
        return None
    dispatch = found.class_manager.dispatch  # listeners may come later: asked every call
    return None if dispatch.load or dispatch.refresh else found
