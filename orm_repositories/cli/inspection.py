"""What a database holds: tables, columns, indexes and row counts, as a dict or as text."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import Inspector

from orm_repositories.cli import server
from orm_repositories.cli.target import CommandError, DatabaseTarget

# reltuples is -1 for a table PostgreSQL has never analysed (vacuum, ANALYZE, autovacuum).
_ESTIMATES = """
SELECT c.relname, c.reltuples FROM pg_class c
WHERE c.relnamespace = to_regnamespace(current_schema())::oid AND c.relkind IN ('r', 'p')
"""
VERSION_TABLE = "alembic_version"


async def inspect_database(target: DatabaseTarget, *, exact: bool = False) -> dict[str, Any]:
    """Describe the database's default schema (see docs/cli.md for the shape).

    Row counts are PostgreSQL's planner estimates (`pg_class.reltuples`, None until the
    table is analysed) unless `exact`; SQLite's are always exact counts.

    Raises:
        DatabaseUnavailableError: the database cannot be reached.
        CommandError: a SQLite file that does not exist.
    """
    if target.is_sqlite and not target.path.is_file():
        raise CommandError(f"no SQLite database at {target.path}")
    with server.reaching(target, "inspecting the database"):
        async with server.connect(target.url) as conn:
            return await conn.run_sync(_describe, target, exact or target.is_sqlite)


def _describe(conn: Connection, target: DatabaseTarget, exact: bool) -> dict[str, Any]:
    inspector = inspect(conn)
    names = sorted(inspector.get_table_names())
    estimates = {} if exact else _estimates(conn)
    tables = []
    for name in names:
        rows = _count(conn, name) if exact else estimates.get(name)
        tables.append({"name": name, "rows": rows, "rows_estimated": not exact,
                       **_structure(conn, inspector, name)})  # fmt: skip
    return {
        "dialect": conn.dialect.name,
        "database": target.name,
        "schema": inspector.default_schema_name,
        "revision": _revision(conn, names),
        "tables": tables,
    }


def _structure(conn: Connection, inspector: Inspector, table: str) -> dict[str, Any]:
    primary = inspector.get_pk_constraint(table).get("constrained_columns") or []
    columns = [
        {
            "name": column["name"],
            "type": _type_name(conn, column["type"]),
            "nullable": bool(column["nullable"]),
            "default": None if column.get("default") is None else str(column["default"]),
            "primary_key": column["name"] in primary,
        }
        for column in inspector.get_columns(table)
    ]
    indexes: dict[str, dict[str, Any]] = {}
    for index in inspector.get_indexes(table):
        expressions = index.get("expressions") or index["column_names"]
        indexes[str(index["name"])] = {
            "name": index["name"],
            "columns": [str(c) for c in expressions],
            "unique": bool(index["unique"]),
        }
    for constraint in inspector.get_unique_constraints(table):
        # a unique constraint is kept by a unique index on both backends
        name = str(constraint["name"])
        indexes.setdefault(
            name, {"name": name, "columns": list(constraint["column_names"]), "unique": True}
        )
    return {
        "primary_key": list(primary),
        "columns": columns,
        "indexes": sorted(indexes.values(), key=lambda i: str(i["name"])),
    }


def _type_name(conn: Connection, column_type: Any) -> str:
    try:
        return str(column_type.compile(dialect=conn.dialect))
    except Exception:  # a type the dialect cannot render (NullType for an unknown one)
        return str(column_type.__class__.__name__)


def _estimates(conn: Connection) -> dict[str, int | None]:
    return {
        str(name): int(tuples) if tuples >= 0 else None
        for name, tuples in conn.execute(text(_ESTIMATES))
    }


def _count(conn: Connection, table: str) -> int:
    quoted = conn.dialect.identifier_preparer.quote(table)
    return int(conn.execute(text(f"SELECT count(*) FROM {quoted}")).scalar_one())


def _revision(conn: Connection, tables: list[str]) -> str | None:
    if VERSION_TABLE not in tables:
        return None
    rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()
    heads = sorted(str(v) for v in rows)
    return " ".join(heads) or None


def render(report: dict[str, Any]) -> list[str]:
    """Lay the report out for people: one block per table, columns aligned."""
    revision = report["revision"] or "no migrations applied"
    lines = [f"{report['dialect']} database {report['database']} ({revision})"]
    if not report["tables"]:
        lines.append("no tables")
    for table in report["tables"]:
        lines += ["", f"{table['name']}  {_rows(table)}"]
        width = max((len(c["name"]) for c in table["columns"]), default=0)
        type_width = max((len(c["type"]) for c in table["columns"]), default=0)
        for column in table["columns"]:
            flags = "NULL" if column["nullable"] else "NOT NULL"
            if column["primary_key"]:
                flags += "  PRIMARY KEY"
            if column["default"] is not None:
                flags += f"  DEFAULT {column['default']}"
            lines.append(
                f"  {column['name']:<{width}}  {column['type']:<{type_width}}  {flags}".rstrip()
            )
        for index in table["indexes"]:
            unique = "unique " if index["unique"] else ""
            lines.append(f"  {unique}index {index['name']} ({', '.join(index['columns'])})")
    return lines


def _rows(table: dict[str, Any]) -> str:
    if table["rows"] is None:
        return "rows: unknown (not analysed yet)"
    prefix = "~" if table["rows_estimated"] else ""
    return f"{prefix}{table['rows']:,} row{'' if table['rows'] == 1 else 's'}"
