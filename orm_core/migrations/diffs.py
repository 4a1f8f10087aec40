"""Describe Alembic autogenerate differences as one readable line each."""

from __future__ import annotations

from typing import Any


def describe(diff: Any) -> list[str]:
    """Return one line per difference in an Alembic diff tuple (or list of them)."""
    if isinstance(diff, list):
        return [line for item in diff for line in describe(item)]
    if not isinstance(diff, tuple) or not diff:
        return [repr(diff)]
    op, *args = diff
    if op in {"add_table", "remove_table"}:
        return [f"{op} {args[0].name}"]
    if op in {"add_column", "remove_column"}:
        return [f"{op} {args[1]}.{args[2].name}"]
    if op in {"add_index", "remove_index"}:
        index = args[0]
        return [f"{op} {index.name} on {index.table.name}"]
    if op in {"add_constraint", "remove_constraint", "add_fk", "remove_fk"}:
        constraint = args[0]
        table = getattr(constraint, "table", None)
        where = f" on {table.name}" if table is not None else ""
        return [f"{op} {constraint.name or type(constraint).__name__}{where}"]
    if op.startswith("modify_"):
        _schema, table, column, _existing, old, new = args
        return [f"{op} {table}.{column}: {old!r} -> {new!r}"]
    return [f"{op} {' '.join(str(a) for a in args)}"]
