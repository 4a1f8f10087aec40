"""Entities in cache entries: their column values out, entities attached to a session back.

An entry holds each entity's loaded column values (through `orm_core.caching.codec`)
and, for the relationships the read loaded (`load=`, and relationships the model loads
eagerly by itself), the related entities the same way. Coming back, an entity the
session already holds wins, as it would for a database read; any other is built as
loaded (`make_transient_to_detached`, then added), so it is persistent, clean, and its
unloaded relationships raise `RelationshipNotLoadedError` as usual.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Enum as SqlEnum
from sqlalchemy import Table, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.interfaces import ORMOption

from orm_core.caching.codec import CorruptEntryError, UnencodableError, decode, encode
from orm_core.lookups import relationship_step

_EAGER = frozenset({"joined", "selectin", "subquery", "immediate"})
_MAX_DEPTH = 4


class NotCacheableError(Exception):
    """A read the cache cannot key or hold faithfully; it goes to the database."""


@dataclass(slots=True)
class LoadTree:
    """The relationships a read loads, per level: name -> what is loaded below it."""

    children: dict[str, LoadTree] = field(default_factory=dict)

    def signature(self) -> Any:
        """A JSON-able description (part of the entry's key)."""
        return {name: tree.signature() for name, tree in sorted(self.children.items())}


@dataclass(frozen=True, slots=True)
class Shape:
    """How a mapper's entities are written: column keys, key columns, enum classes."""

    mapper: Mapper[Any]
    columns: tuple[str, ...]
    key: tuple[str, ...]
    enums: dict[str, type[enum.Enum]]


_SHAPES: dict[Mapper[Any], Shape] = {}


def shape_of(mapper: Mapper[Any]) -> Shape:
    """The (cached) shape of a mapper's entities.

    Raises:
        NotCacheableError: an inheritance hierarchy (its rows may be of several classes).
    """
    found = _SHAPES.get(mapper)
    if found is None:
        if mapper.inherits is not None or mapper.polymorphic_on is not None:
            raise NotCacheableError(f"{mapper.class_.__name__} uses inheritance")
        enums: dict[str, type[enum.Enum]] = {}
        for prop in mapper.column_attrs:
            kind = getattr(prop.columns[0].type, "enum_class", None)
            if isinstance(prop.columns[0].type, SqlEnum) and kind is not None:
                enums[prop.key] = kind
        key = tuple(mapper.get_property_by_column(c).key for c in mapper.primary_key)
        columns = tuple(prop.key for prop in mapper.column_attrs)
        found = _SHAPES[mapper] = Shape(mapper, columns, key, enums)
    return found


_TREES: dict[tuple[type, Any], tuple[LoadTree, frozenset[Table], Any]] = {}


def load_plan(model: type, load: Any) -> tuple[LoadTree, frozenset[Table], Any]:
    """`load_tree`, with the layout of the entities (part of the key); cached per path list.

    Raises:
        NotCacheableError: as `load_tree`.
    """
    paths = (load,) if load is None or isinstance(load, str) else load
    key = (model, tuple(paths)) if isinstance(paths, list | tuple) else None
    found = _TREES.get(key) if key is not None else None
    if found is None:
        tree, tables = load_tree(model, load)
        layout = [shape_of(inspect(model)).columns, tree.signature()]
        found = (tree, frozenset(tables), layout)
        if key is not None and all(isinstance(p, str | None) for p in key[1]):
            _TREES[key] = found
    return found


def load_tree(model: type, load: Any) -> tuple[LoadTree, set[Table]]:
    """The relationships a read with `load=` fills, and the tables they come from.

    Raises:
        NotCacheableError: loader options (not names), or an unknown path (the read
            itself then reports it).
    """
    mapper: Mapper[Any] = inspect(model)
    tree = LoadTree()
    tables: set[Table] = set()
    paths: Iterable[Any] = [] if load is None else [load] if isinstance(load, str) else load
    if isinstance(load, ORMOption) or not isinstance(paths, Iterable):
        raise NotCacheableError("loader options")
    for path in paths:
        if not isinstance(path, str) or not path.strip():
            raise NotCacheableError("loader options")
        node, current = tree, model
        for name in path.strip().split("."):
            step = relationship_step(current, name)
            if step is None:
                raise NotCacheableError(f"unknown relationship {name!r}")
            node = node.children.setdefault(step.key, LoadTree())
            current = step.target
    _add_eager(mapper, tree, tables, 0)
    return tree, tables


def _add_eager(mapper: Mapper[Any], tree: LoadTree, tables: set[Table], depth: int) -> None:
    shape_of(mapper)
    tables.update(t for t in mapper.tables if isinstance(t, Table))
    if depth >= _MAX_DEPTH:
        if tree.children:
            raise NotCacheableError("load= paths too deep")
        return
    for relationship in mapper.relationships:
        if relationship.lazy in _EAGER and relationship.key not in tree.children:
            tree.children[relationship.key] = LoadTree()
    for name, child in tree.children.items():
        relationship = mapper.relationships[name]
        if isinstance(relationship.secondary, Table):
            tables.add(relationship.secondary)
        _add_eager(relationship.mapper, child, tables, depth + 1)


def encode_entity(entity: Any, tree: LoadTree, held: set[Any]) -> Any:
    """An entity as `[columns, relationships]` of plain values.

    Raises:
        UnencodableError: a value the codec cannot hold, or an entity the session held
            before the read (its attributes may predate the read's snapshot).
    """
    if entity is None:
        return None
    state = inspect(entity)
    if state.key in held:
        raise UnencodableError("an entity the session held before the read")
    loaded = state.dict
    shape = shape_of(state.mapper)
    columns = {key: encode(loaded[key]) for key in shape.columns if key in loaded}
    related: dict[str, Any] = {}
    for name, child in tree.children.items():
        if name not in loaded:
            continue
        value = loaded[name]
        if isinstance(value, list):
            related[name] = [encode_entity(item, child, held) for item in value]
        elif state.mapper.relationships[name].uselist:
            raise UnencodableError("a collection that is not a list")
        else:
            related[name] = encode_entity(value, child, held)
    return [columns, related]


def decode_entity(session: AsyncSession, model: type, data: Any, tree: LoadTree) -> Any:
    """The entity an entry describes, attached to `session` (a held copy wins).

    Raises:
        CorruptEntryError: data `encode_entity` never makes.
    """
    if data is None:
        return None
    try:
        return _attach(session, inspect(model), data, tree)
    except CorruptEntryError:
        raise
    except Exception as exc:
        raise CorruptEntryError(f"a cached {model.__name__} did not decode") from exc


def _attach(session: AsyncSession, mapper: Mapper[Any], data: Any, tree: LoadTree) -> Any:
    columns, related = data
    shape = shape_of(mapper)
    values = {key: decode(value, shape.enums.get(key)) for key, value in columns.items()}
    identity = mapper.identity_key_from_primary_key(tuple(values[key] for key in shape.key))
    entity = session.identity_map.get(identity)
    fresh = entity is None
    if fresh:
        entity = mapper.class_manager.new_instance()
        for key, value in values.items():
            set_committed_value(entity, key, value)
    loaded = inspect(entity).dict
    for name, child in tree.children.items():
        if name not in related or name in loaded:
            continue  # a held entity keeps what it had loaded, as after a database read
        relationship = mapper.relationships[name]
        value = related[name]
        if relationship.uselist:
            value = [_attach(session, relationship.mapper, item, child) for item in value]
        elif value is not None:
            value = _attach(session, relationship.mapper, value, child)
        set_committed_value(entity, name, value)
    if fresh:
        make_transient_to_detached(entity)
        session.add(entity)
    return entity
