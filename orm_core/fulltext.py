"""The SQL behind full-text search, one builder per way of searching.

`orm_core.dialects` picks the builder for its backend: PostgreSQL matches a
`tsvector` (the declared, indexed column, or one built from the fields on the fly)
with `websearch_to_tsquery`; SQLite matches the FTS5 table kept beside a table that
declares a search vector; any other case falls back to LIKE. Each builder answers
with a `SearchSource`: the condition, the rank and the excerpts of one search.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    FromClause,
    Integer,
    Table,
    and_,
    bindparam,
    case,
    column,
    false,
    func,
    literal_column,
    not_,
    or_,
    table,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from orm_core.errors import InvalidQueryError
from orm_core.translate import translating
from orm_core.websearch import SearchQuery, Term

WEIGHTS = "ABCD"
# PostgreSQL's default weights of ts_rank for A, B, C, D; the other backends use them too
RANK_WEIGHTS = {"A": 1.0, "B": 0.4, "C": 0.2, "D": 0.1}
DEFAULT_CONFIG = "english"
DEFAULT_TOKENIZE = "porter unicode61 remove_diacritics 2"
_CONFIG = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
_TOKENIZE = re.compile(r"[A-Za-z0-9_ ]+")
_TRIGGERS = ("ai", "ad", "au")  # after insert, delete, update
_log = logging.getLogger("orm_core.search")

# (index of the field in the request, start marker, stop marker, words or None) -> SQL
Excerpt = Callable[[int, str, str, int | None], ColumnElement[Any]]
Quote = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class SearchVector:
    """What a declared search vector covers: fields, their weights, the text-search settings."""

    fields: tuple[str, ...]
    weights: tuple[str, ...]
    config: str = DEFAULT_CONFIG
    tokenize: str = DEFAULT_TOKENIZE

    @classmethod
    def of(
        cls, fields: Sequence[str], weights: Sequence[str] | None, config: str, tokenize: str
    ) -> SearchVector:
        """Check and build a declaration; weights default to A, B, C, D in field order.

        Raises:
            InvalidQueryError: no field, a repeated field, a weight outside A-D, or a
                config or tokenizer that is not a plain name.
        """
        names = tuple(fields)
        if not names or len(set(names)) != len(names) or not all(isinstance(f, str) for f in names):
            raise InvalidQueryError("search_vector needs distinct field names", {"fields": names})
        given = tuple(weights) if weights is not None else default_weights(len(names))
        if len(given) != len(names) or any(w not in WEIGHTS for w in given):
            raise InvalidQueryError("search_vector weights are one of A, B, C, D per field",
                                    {"weights": given})  # fmt: skip
        if not _CONFIG.fullmatch(config) or not _TOKENIZE.fullmatch(tokenize):
            raise InvalidQueryError("search_vector config and tokenize must be plain names",
                                    {"config": config, "tokenize": tokenize})  # fmt: skip
        return cls(names, given, config, tokenize)


def default_weights(count: int) -> tuple[str, ...]:
    """A, B, C, D for the first four fields, D for any after them."""
    return tuple(WEIGHTS[min(i, 3)] for i in range(count))


@dataclass(frozen=True, slots=True)
class DeclaredVector:
    """A search vector declared on a table: its generated column and its declaration."""

    column: Column[Any]
    vector: SearchVector

    @property
    def table(self) -> Table:
        """The table the vector belongs to."""
        found: Table = self.column.table
        return found

    @property
    def columns(self) -> tuple[Column[Any], ...]:
        """The table columns the vector covers, in declaration order.

        Raises:
            InvalidQueryError: a declared field the table does not have.
        """
        found = []
        for name in self.vector.fields:
            if name not in self.table.c:
                raise InvalidQueryError(
                    f"search vector {self.column.name!r} of {self.table.name!r} names an unknown "
                    f"field {name!r}", {"field": name})  # fmt: skip
            found.append(self.table.c[name])
        return tuple(found)

    @property
    def fts_name(self) -> str:
        """The name of the FTS5 table kept beside the table on SQLite."""
        return f"{self.table.name}_{self.column.name}_fts"


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """One search: the fields (in the caller's order, with weights), the query, the vectors."""

    table: Table
    columns: tuple[Column[Any], ...]
    weights: tuple[str, ...]
    query: SearchQuery
    declared: tuple[DeclaredVector, ...]

    @property
    def config(self) -> str:
        """The text-search configuration: the first declared vector's, else the default."""
        return self.declared[0].vector.config if self.declared else DEFAULT_CONFIG

    def vector_of_fields(self) -> DeclaredVector | None:
        """The declared vector covering exactly the searched fields, if any."""
        wanted = set(self.columns)
        return next((d for d in self.declared if set(d.columns) == wanted), None)

    def vector_covering(self) -> DeclaredVector | None:
        """A declared vector covering every searched field (the smallest), if any."""
        wanted = set(self.columns)
        covering = [d for d in self.declared if wanted <= set(d.columns)]
        return min(covering, key=lambda d: len(d.columns), default=None)


@dataclass(frozen=True, slots=True)
class SearchSource:
    """What a backend answers for a search: the match, the rank (higher first), the excerpts.

    `joins` are tables to join the model with; `excerpt` is None where the repository
    marks matches itself.
    """

    condition: ColumnElement[bool]
    rank: ColumnElement[Any]
    joins: tuple[tuple[FromClause, ColumnElement[bool]], ...] = ()
    excerpt: Excerpt | None = None


# -- PostgreSQL: tsvector and websearch_to_tsquery --------------------------------------


def tsvector_sql(vector: SearchVector, names: Sequence[str], quote: Quote) -> str:
    """The expression a declared vector column is generated by, as PostgreSQL prints it back.

    Written in PostgreSQL's own normal form so that Alembic autogenerate, which compares
    the text, sees no change where there is none.
    """
    parts = [
        f"setweight(to_tsvector('{vector.config}'::regconfig, COALESCE(({quote(name)})::text, "
        f"''::text)), '{weight}'::\"char\")"
        for name, weight in zip(names, vector.weights, strict=True)
    ]
    return " || ".join(parts)


def tsvector_source(request: SearchRequest) -> SearchSource:
    """Match and rank with `websearch_to_tsquery` over the declared or an on-the-fly vector."""
    config: ColumnElement[Any] = literal_column(f"'{request.config}'::regconfig")
    searched: ColumnElement[Any] = bindparam("search_text", request.query.text, unique=True)
    query = func.websearch_to_tsquery(config, searched)
    declared = request.vector_of_fields()
    document: ColumnElement[Any]
    if declared is not None:
        document = declared.column
    else:
        document = reduce(lambda a, b: a.op("||")(b), [
            func.setweight(func.to_tsvector(config, func.coalesce(c, "")), literal_column(f"'{w}'"))
            for c, w in zip(request.columns, request.weights, strict=True)
        ])  # fmt: skip
    # a query left with nothing it looks for (stop words gone) would match by what rows lack
    condition = and_(document.bool_op("@@")(query), func.querytree(query) != "T")

    def excerpt(index: int, start: str, stop: str, words: int | None) -> ColumnElement[Any]:
        size = "HighlightAll=true" if words is None else f"MaxWords={words}, MinWords={words // 2}"
        options = f"StartSel={start}, StopSel={stop}, {size}"
        value = func.coalesce(request.columns[index], "")
        return func.ts_headline(config, value, query, bindparam("options", options, unique=True))

    return SearchSource(condition, func.ts_rank_cd(document, query), excerpt=excerpt)


# -- SQLite: an FTS5 table kept in sync by triggers -------------------------------------


def fts5_ddl(declared: DeclaredVector, quote: Quote) -> list[str]:
    """CREATE statements of the FTS5 table and its triggers, then its rebuild from the rows."""
    fts, content = quote(declared.fts_name), quote(declared.table.name)
    names = [quote(c.name) for c in declared.columns]
    listed = ", ".join(names)
    new = ", ".join(f"new.{n}" for n in names)
    old = ", ".join(f"old.{n}" for n in names)
    keys = [quote(c.name) for c in declared.table.primary_key.columns]
    watched = ", ".join(dict.fromkeys([*keys, *names]))
    literal = declared.table.name.replace("'", "''")
    insert = f"INSERT INTO {fts}(rowid, {listed}) VALUES (new.rowid, {new});"
    delete = f"INSERT INTO {fts}({fts}, rowid, {listed}) VALUES ('delete', old.rowid, {old});"
    inserted, deleted, updated = (quote(f"{declared.fts_name}_{k}") for k in _TRIGGERS)
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({listed}, content='{literal}', "
        f"tokenize='{declared.vector.tokenize}')",
        f"CREATE TRIGGER {inserted} AFTER INSERT ON {content} BEGIN {insert} END",
        f"CREATE TRIGGER {deleted} AFTER DELETE ON {content} BEGIN {delete} END",
        f"CREATE TRIGGER {updated} AFTER UPDATE OF {watched} ON {content} "
        f"BEGIN {delete} {insert} END",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
    ]


def fts5_drop_ddl(declared: DeclaredVector, quote: Quote) -> list[str]:
    """DROP statements of the FTS5 table and its triggers."""
    return [
        *(f"DROP TRIGGER IF EXISTS {quote(f'{declared.fts_name}_{k}')}" for k in _TRIGGERS),
        f"DROP TABLE IF EXISTS {quote(declared.fts_name)}",
    ]


def create_fts5(connection: Connection, declared: DeclaredVector, quote: Quote) -> None:
    """Create the FTS5 table and triggers of `declared`; without FTS5, log it and go on."""
    first, *rest = fts5_ddl(declared, quote)
    try:
        connection.exec_driver_sql(first)
    except OperationalError as error:
        if "fts5" not in str(error):
            raise
        _log.warning("SQLite has no FTS5: %s is searched with LIKE", declared.table.name)
        return
    for statement in rest:
        connection.exec_driver_sql(statement)


def drop_fts5(connection: Connection, declared: DeclaredVector, quote: Quote) -> None:
    """Drop the FTS5 table and triggers of `declared`, if they exist."""
    for statement in fts5_drop_ddl(declared, quote):
        connection.exec_driver_sql(statement)


async def has_fts5(session: AsyncSession, name: str) -> bool:
    """Whether the FTS5 table `name` exists (a missing one is logged: LIKE searches instead)."""
    statement = text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name")
    with translating():
        found = (await session.execute(statement, {"name": name})).first() is not None
    if not found:
        _log.warning("no FTS5 table %s: searched with LIKE (see docs/search.md)", name)
    return found


def fts5_source(request: SearchRequest, declared: DeclaredVector, quote: Quote) -> SearchSource:
    """Match with FTS5 `MATCH` joined on the table's rowid, rank with `bm25` weighted per field."""
    rowid: ColumnElement[Any] = literal_column(f"{quote(request.table.name)}.rowid")
    name = declared.fts_name
    fts = table(name, column("rowid", Integer), column(name))
    hidden = fts.c[name]
    covered = declared.columns
    searched = dict(zip(request.columns, request.weights, strict=True))
    if set(covered) == set(request.columns):
        searched = dict(zip(covered, declared.vector.weights, strict=True))
    weights = [RANK_WEIGHTS[searched[c]] if c in searched else 0.0 for c in covered]
    match = fts5_query(request.query, None if set(covered) == set(searched) else list(searched))
    condition = hidden.bool_op("MATCH")(bindparam("search_match", match, unique=True))
    position = {c: i for i, c in enumerate(covered)}

    def excerpt(index: int, start: str, stop: str, words: int | None) -> ColumnElement[Any]:
        at = position[request.columns[index]]
        if words is None:
            return func.highlight(hidden, at, start, stop)
        return func.snippet(hidden, at, start, stop, "", min(words, 64))

    rank = -func.bm25(hidden, *weights)
    return SearchSource(condition, rank, ((fts, fts.c.rowid == rowid),), excerpt)


def fts5_query(query: SearchQuery, columns: Sequence[Column[Any]] | None) -> str:
    """An FTS5 query string for `query`: every term quoted, so no text is FTS5 syntax."""

    def phrase(term: Term) -> str:
        return '"' + " ".join(term.tokens).replace('"', '""') + '"'

    branches = []
    for branch in query.branches:
        wanted = " AND ".join(phrase(t) for t in branch if not t.negated)
        excluded = "".join(f" NOT {phrase(t)}" for t in branch if t.negated)
        branches.append(f"(({wanted}){excluded})")
    expression = " OR ".join(branches)
    if columns is None:
        return expression
    names = " ".join('"' + c.name.replace('"', '""') + '"' for c in columns)
    return f"{{{names}}} : ({expression})"


# -- anywhere: LIKE over the fields -----------------------------------------------------


def like_source(request: SearchRequest) -> SearchSource:
    """Match each term as a case-insensitive substring of any field (no index, no stemming).

    Rank: the weights of the fields holding a wanted term, added up.
    """
    texts = [func.coalesce(c, "") for c in request.columns]

    def found(term: Term, texts: Sequence[ColumnElement[Any]]) -> ColumnElement[bool]:
        pattern = "%" + "%".join(_escaped(t) for t in term.tokens) + "%"
        return or_(*(t.ilike(pattern, escape="\\") for t in texts))

    branches = [
        and_(*(not_(found(t, texts)) if t.negated else found(t, texts) for t in branch))
        for branch in request.query.branches
    ]
    wanted = [t for b in request.query.branches for t in b if not t.negated]
    rank: ColumnElement[Any] = sum(
        (case((or_(*(found(t, [value]) for t in wanted), false()), RANK_WEIGHTS[w]), else_=0.0)
         for value, w in zip(texts, request.weights, strict=True)),
        start=literal_column("0.0"),
    )  # fmt: skip
    return SearchSource(or_(*branches), rank)


def _escaped(token: str) -> str:
    return token.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
