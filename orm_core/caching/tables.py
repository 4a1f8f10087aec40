"""Which version keys a read depends on and a commit bumps.

A version key is (schema, table name). A table declared without a schema lives in the
unit of work's schema (schema per tenant), else in the default one, written "" (so a
unit that names the default schema explicitly shares its versions). A write to a table
also changes the tables whose foreign keys point at it with `ON DELETE`/`ON UPDATE`
`CASCADE`, `SET NULL` or `SET DEFAULT`, transitively: the database changes their rows
without the framework seeing it, so their versions are bumped too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table

from orm_core.caching.base import TableKey

_ACTIONS = frozenset({"CASCADE", "SET NULL", "SET DEFAULT"})
_CASCADES: dict[Table, tuple[int, frozenset[Table]]] = {}


def read_keys(
    tables: Iterable[Table | Any], schema: str | None, dialect: Any
) -> tuple[TableKey, ...] | None:
    """The sorted version keys of a read; None while the default schema's name is unknown."""
    default = dialect.default_schema_name
    keys: set[TableKey] = set()
    for table in tables:
        name = table.schema or schema
        if name is None or name == default:
            keys.add(("", table.name))
        elif default is None:
            return None  # not connected yet: cannot tell whether `name` is the default
        else:
            keys.add((name, table.name))
    return tuple(sorted(keys))


def write_keys(tables: Iterable[Table], schema: str | None, dialect: Any) -> set[TableKey]:
    """The version keys a commit that wrote `tables` bumps, cascades included."""
    default = dialect.default_schema_name
    keys: set[TableKey] = set()
    for table in with_cascades(tables):
        name = table.schema or schema
        if name is None or name == default:
            keys.add(("", table.name))
        else:
            keys.add((name, table.name))
            if default is None:
                keys.add(("", table.name))
    return keys


def with_cascades(tables: Iterable[Table]) -> set[Table]:
    """`tables` and every table the database may change when they are written."""
    found: set[Table] = set()
    for table in tables:
        found.add(table)
        found.update(_cascades(table))
    return found


def _cascades(table: Table) -> frozenset[Table]:
    metadata = table.metadata
    size = len(metadata.tables)
    known = _CASCADES.get(table)
    if known is not None and known[0] == size:
        return known[1]
    reached: set[Table] = set()
    pending = [table]
    while pending:
        parent = pending.pop()
        for child in metadata.tables.values():
            if child not in reached and child is not table and _cascades_from(child, parent):
                reached.add(child)
                pending.append(child)
    result = frozenset(reached)
    _CASCADES[table] = (size, result)
    return result


def _cascades_from(child: Table, parent: Table) -> bool:
    for fk in child.foreign_keys:
        if fk.target_fullname.rsplit(".", 1)[0] != parent.fullname:
            continue
        constraint = fk.constraint
        actions: list[str | None] = [fk.ondelete, fk.onupdate]
        if constraint is not None:
            actions += [constraint.ondelete, constraint.onupdate]
        if any(a is not None and a.upper() in _ACTIONS for a in actions):
            return True
    return False
