"""Full-text search declared on a model: `search_vector`, its DDL, and `Highlight`.

`search = search_vector("title", "body")` in a model's body adds a generated
column: on PostgreSQL a `tsvector` (`setweight(to_tsvector(config, field), weight)`
per field) with a GIN index, both in the table's DDL so Alembic autogenerate sees
them. The column is never mapped, loaded or written by the ORM: it exists for the
index. On SQLite the column holds NULL, and `create_all` adds an FTS5 table beside
the model's table, filled and kept in sync by triggers on every insert, update and
delete (`create_search_tables` does the same in a migration).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Computed, Index, Table, Text, event
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement

from orm_core.dialects import backend_of
from orm_core.errors import InvalidQueryError
from orm_core.fulltext import DEFAULT_CONFIG, DEFAULT_TOKENIZE, DeclaredVector, SearchVector


def search_vector(
    *fields: str,
    config: str = DEFAULT_CONFIG,
    weights: Sequence[str] | None = None,
    tokenize: str = DEFAULT_TOKENIZE,
) -> Column[str]:
    """Declare a full-text search vector over text fields, for `search = search_vector(...)`.

    Args:
        fields: the fields it covers; the first weighs most.
        config: the PostgreSQL text-search configuration (stemming, stop words).
        weights: one of "A" to "D" per field (default A, B, C, then D).
        tokenize: the SQLite FTS5 tokenizer.

    Raises:
        InvalidQueryError: no field, a repeated field, or a bad weight, config or tokenizer.
    """
    vector = SearchVector.of(fields, weights, config, tokenize)
    # never in the ORM's SELECT, INSERT or UPDATE lists (nor mapped): the database fills it
    column: Column[str] = Column(
        Text().with_variant(TSVECTOR(), "postgresql"),
        Computed(VectorExpression(vector), persisted=True),
        nullable=True,
        _omit_from_statements=True,
    )
    event.listen(column, "after_parent_attach", _attached)
    return column


def declared_vectors(table: Table) -> tuple[DeclaredVector, ...]:
    """The search vectors declared on `table`, in column order."""
    found = []
    for column in table.columns:
        computed = column.computed
        if computed is not None and isinstance(computed.sqltext, VectorExpression):
            found.append(DeclaredVector(column, computed.sqltext.vector))
    return tuple(found)


def create_search_tables(connection: Connection, table: Table) -> None:
    """Create what searching `table` needs beyond its own DDL, filled from its rows.

    SQLite: per declared vector, an FTS5 table and the triggers keeping it in sync
    (without FTS5, nothing: searches fall back to LIKE). Elsewhere nothing: the
    generated column and its index are part of the table. `create_all` calls it;
    a migration calls it with `op.get_bind()` after creating the table or the column.
    """
    backend = backend_of(connection.dialect)
    for declared in declared_vectors(table):
        backend.create_search_tables(connection, declared)


def drop_search_tables(connection: Connection, table: Table) -> None:
    """Drop what `create_search_tables` created (`drop_all` calls it)."""
    backend = backend_of(connection.dialect)
    for declared in declared_vectors(table):
        backend.drop_search_tables(connection, declared)


@dataclass(frozen=True, slots=True)
class Highlight:
    """How `search_highlights` shows matches: the markers around them, escaping, excerpt size.

    With `escape` (the default) the field text is HTML-escaped and the markers are
    not, so the default result is safe to put in HTML; `escape=False` returns the
    text as stored. `words` bounds each excerpt (SQLite takes at most 64 tokens);
    None highlights the whole field.
    """

    start: str = "<mark>"
    stop: str = "</mark>"
    escape: bool = True
    words: int | None = 35

    def __post_init__(self) -> None:
        words = self.words
        if words is not None and (isinstance(words, bool) or not isinstance(words, int)
                                  or not 2 <= words <= 1000):  # fmt: skip
            raise InvalidQueryError("Highlight words must be None or from 2 to 1000",
                                    {"words": words})  # fmt: skip

    def render(self, marked: str | None, start: str, stop: str) -> str:
        """Turn text whose matches sit between the placeholders `start`/`stop` into the result."""
        if not marked:
            return ""
        escape = html.escape if self.escape else str
        head, *rest = marked.split(start)
        parts = [escape(head.replace(stop, ""))]
        for piece in rest:
            match, _, tail = piece.partition(stop)
            parts.append(f"{self.start}{escape(match)}{self.stop}{escape(tail.replace(stop, ''))}")
        return "".join(parts)


DEFAULT_HIGHLIGHT = Highlight()


class VectorExpression(ColumnElement[Any]):
    """The SQL a declared search vector is generated by; each backend writes its own."""

    inherit_cache = False

    def __init__(self, vector: SearchVector, table: Table | None = None) -> None:
        self.vector = vector
        self.table = table


@compiles(VectorExpression)
def _compile_vector(element: VectorExpression, compiler: SQLCompiler, **kw: Any) -> str:
    if element.table is None:
        raise InvalidQueryError("a search_vector() column must belong to a table")
    names = []
    for field in element.vector.fields:
        if field not in element.table.c:
            raise InvalidQueryError(
                f"search_vector on {element.table.name!r} names an unknown field {field!r}",
                {"field": field},
            )
        names.append(element.table.c[field].name)
    return backend_of(compiler.dialect).search_vector_sql(element.vector, names)


def _attached(column: Column[Any], table: Any) -> None:
    """Bind the vector's expression to its table; add its index and the FTS DDL hooks."""
    if not isinstance(table, Table) or column.computed is None:
        return
    expression = column.computed.sqltext
    if not isinstance(expression, VectorExpression):
        return
    column.computed.sqltext = VectorExpression(expression.vector, table)
    index = Index(f"ix_{table.name}_{column.name}", column, postgresql_using="gin")
    index.ddl_if(callable_=_wants_index)
    if not event.contains(table, "after_create", _after_create):
        event.listen(table, "after_create", _after_create)
        event.listen(table, "before_drop", _before_drop)


def _wants_index(*_args: Any, dialect: Any, **_kw: Any) -> bool:
    return backend_of(dialect).search_index


def _after_create(table: Table, connection: Connection, **_kw: Any) -> None:
    create_search_tables(connection, table)


def _before_drop(table: Table, connection: Connection, **_kw: Any) -> None:
    drop_search_tables(connection, table)
