"""Full-text search: `search` and `search_highlights` (docs/search.md).

The fields are checked against the model and the lookups built before any SQL;
the text is parsed once (`orm_core.websearch`), and a query with nothing to look
for returns `[]` without SQL. The backend says how to match, rank and mark
(`Backend.search_source`); the statement carries the scope criteria and lookups
like every other read, and runs through `_target`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Select, select

from orm_core.errors import InvalidQueryError
from orm_core.fulltext import SearchRequest, SearchSource, default_weights
from orm_core.search import Highlight, declared_vectors
from orm_core.websearch import mark_matches, parse_search
from orm_repositories._loading import Load, target_options
from orm_repositories._select import criteria
from orm_repositories._target import Target, fetch_all, fetch_rows, names_list, non_negative

Found = tuple[Select[Any], SearchSource, SearchRequest]


async def search(
    target: Target, text: Any, fields: Any, limit: Any, load: Load, lookups: Mapping[str, Any]
) -> list[Any]:
    """The rows matching `text` in `fields` and `lookups`, most relevant first."""
    found = await _found(target, text, fields, limit, load, lookups)
    return [] if found is None else await fetch_all(target, found[0])


async def search_highlights(
    target: Target,
    text: Any,
    fields: Any,
    limit: Any,
    load: Load,
    highlight: Any,
    lookups: Mapping[str, Any],
) -> list[tuple[Any, dict[str, str]]]:
    """`search`, each row with an excerpt per field, its matches marked as `highlight` says."""
    if not isinstance(highlight, Highlight):
        raise InvalidQueryError("highlight takes a Highlight", {"highlight": repr(highlight)})
    found = await _found(target, text, fields, limit, load, lookups)
    if found is None:
        return []
    statement, source, request = found
    names = names_list(fields, "search fields")
    # letters and digits only: ts_headline's options take them unquoted; the random part
    # keeps stored text from ever posing as a marker
    nonce = secrets.token_hex(8)
    start, stop = f"HL{nonce}S", f"HL{nonce}E"
    if source.excerpt is None:  # the backend has no highlighting: mark the loaded values

        def marked(value: str | None) -> str:
            text = mark_matches(value or "", request.query.wanted, start, stop, highlight.words)
            return highlight.render(text, start, stop)

        entities = await fetch_all(target, statement)
        return [(e, {name: marked(getattr(e, name)) for name in names}) for e in entities]
    excerpts = [
        source.excerpt(i, start, stop, highlight.words).label(f"excerpt_{i}")
        for i in range(len(names))
    ]
    rows = await fetch_rows(target, statement.add_columns(*excerpts))
    return [
        (row[0], {name: highlight.render(row[i + 1], start, stop) for i, name in enumerate(names)})
        for row in rows
    ]


async def _found(
    target: Target, text: Any, fields: Any, limit: Any, load: Load, lookups: Mapping[str, Any]
) -> Found | None:
    """The search statement, or None when nothing can match (no SQL sent then)."""
    request = _request(target, text, fields)
    limit = non_negative("limit", limit)
    conditions = criteria(target, (), lookups)
    options = target_options(target, load)
    if not request.query.searchable or limit == 0:
        return None
    source = await target.backend.search_source(target.session, request)
    statement = select(target.model).options(*options)
    for joined, on in source.joins:
        statement = statement.join(joined, on)
    tiebreak: list[ColumnElement[Any]] = [f.attribute.asc() for f in target.info.primary_key]
    statement = statement.where(source.condition, *conditions)
    return statement.order_by(source.rank.desc(), *tiebreak).limit(limit), source, request


def _request(target: Target, text: Any, fields: Any) -> SearchRequest:
    """Check the text and fields; parse the text.

    Raises:
        InvalidQueryError: text that is not a string, or a field that is unknown or not text.
    """
    if not isinstance(text, str):
        raise InvalidQueryError("search text must be a string", {"text": type(text).__name__})
    table = target.table
    vectors = declared_vectors(table)
    generated = {d.column for d in vectors}
    columns = []
    for name in names_list(fields, "search fields"):
        field = target.info.field(name)
        if not field.is_string or field.column in generated or field.column.table is not table:
            raise InvalidQueryError(f"cannot search {name!r}: not a text field", {"field": name})
        columns.append(field.column)
    weights = default_weights(len(columns))
    return SearchRequest(table, tuple(columns), weights, parse_search(text), vectors)
