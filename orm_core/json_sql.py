"""JSON lookups in SQL: key and path transforms, typed comparisons, containment, key tests.

`data__size__gt=3` compares the value at `data -> size` with 3 *as JSON*: a value of
another JSON type never matches (`"big"` is not greater than 3, `true` is not 1).
`contains` is containment (PostgreSQL's `@>`: a dict within a dict, a list's elements
within a list, a scalar within an array), `has_key`/`has_keys` test object keys. Keys
and values are always bound parameters. PostgreSQL works on JSONB; SQLite reproduces
the same answers with its JSON functions. Each backend object holds one of these.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    String,
    Text,
    and_,
    bindparam,
    cast,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB

from orm_core.errors import InvalidQueryError

JsonPath = tuple[str | int, ...]
JSON_OPERATORS = ("has_key", "has_keys")
_ORDERED = ("gt", "gte", "lt", "lte")
_TEXT = ("icontains", "startswith", "istartswith", "endswith", "iendswith")


def json_kind(value: Any) -> str:
    """The JSON type of a Python value: null, boolean, number, string, array or object.

    Raises:
        InvalidQueryError: a value JSON cannot hold, or text with a NUL character.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidQueryError("JSON text cannot hold a NUL character")
        return "string"
    if isinstance(value, list | tuple):
        for item in value:
            json_kind(item)
        return "array"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidQueryError("JSON object keys are strings")
            json_kind(key)
            json_kind(item)
        return "object"
    raise InvalidQueryError(f"a {type(value).__name__} is not a JSON value")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_decimal, separators=(",", ":"))


def _decimal(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(type(value).__name__)


class JsonSql:
    """Build one JSON lookup condition (shared argument checks, per-backend SQL)."""

    def condition(
        self, column: Any, path: JsonPath, op: str, value: Any
    ) -> ColumnElement[bool]:
        """`column` at `path`, compared with `value` by `op`.

        Raises:
            InvalidQueryError: a value that does not suit the operator.
        """
        if op == "isnull":
            if not isinstance(value, bool):
                raise InvalidQueryError("isnull takes True or False")
            missing = self.missing(column, path)
            return missing if value else not_(missing)
        if op == "has_key":
            return self.has_keys(column, path, [_key(value)])
        if op == "has_keys":
            if isinstance(value, str) or not isinstance(value, Sequence) or not value:
                raise InvalidQueryError("has_keys takes a list of keys")
            return self.has_keys(column, path, [_key(k) for k in value])
        if op == "contains":
            json_kind(value)
            return self.contains(column, path, value)
        if op in ("in", "not_in"):
            if isinstance(value, str | dict) or not isinstance(value, Sequence):
                raise InvalidQueryError(f"{op} takes a list of JSON values")
            for item in value:
                json_kind(item)
            matched = or_(false(), *(self.equals(column, path, v) for v in value))
            if op == "in":
                return matched
            return and_(not_(self.missing(column, path)), not_(matched))
        if op in ("eq", "ne"):
            json_kind(value)
            equal = self.equals(column, path, value)
            return and_(not_(self.missing(column, path)), not_(equal)) if op == "ne" else equal
        if op in _ORDERED:
            return self.compare(column, path, op, _ordered(value, op))
        if op == "between":
            if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
                raise InvalidQueryError("between takes a (low, high) pair")
            low, high = _ordered(value[0], op), _ordered(value[1], op)
            if json_kind(low) != json_kind(high):
                raise InvalidQueryError("between takes two values of one JSON type")
            return and_(
                self.compare(column, path, "gte", low), self.compare(column, path, "lte", high)
            )
        if op in _TEXT or op == "iexact":
            if not isinstance(value, str):
                raise InvalidQueryError(f"{op} takes a string")
            json_kind(value)
            return self.text(column, path, op, value)
        raise InvalidQueryError(f"the operator {op!r} does not apply to JSON values")

    def missing(self, column: Any, path: JsonPath) -> ColumnElement[bool]:
        """The path holds nothing (SQL NULL), as opposed to JSON null."""
        raise NotImplementedError

    def equals(self, column: Any, path: JsonPath, value: Any) -> ColumnElement[bool]:
        """The value at `path` equals `value`, JSON types included."""
        raise NotImplementedError

    def compare(self, column: Any, path: JsonPath, op: str, value: Any) -> ColumnElement[bool]:
        """`>`, `>=`, `<`, `<=` against a number or a string of the same JSON type."""
        raise NotImplementedError

    def contains(self, column: Any, path: JsonPath, value: Any) -> ColumnElement[bool]:
        """JSON containment of `value` in the value at `path`."""
        raise NotImplementedError

    def has_keys(self, column: Any, path: JsonPath, keys: list[str]) -> ColumnElement[bool]:
        """The value at `path` is an object holding every key."""
        raise NotImplementedError

    def text(self, column: Any, path: JsonPath, op: str, value: str) -> ColumnElement[bool]:
        """A text operator on the string at `path`."""
        raise NotImplementedError


class PostgresqlJson(JsonSql):
    """JSONB operators: `#>`, `#>>`, `@>`, `?&`, `jsonb_typeof`."""

    def _at(self, column: Any, path: JsonPath) -> Any:
        document = cast(column, JSONB)
        if not path:
            return document
        return document.op("#>")(_text_array(path))

    def _typeof(self, column: Any, path: JsonPath) -> Any:
        return func.jsonb_typeof(self._at(column, path))

    def missing(self, column: Any, path: JsonPath) -> ColumnElement[bool]:
        return self._at(column, path).is_(None)  # type: ignore[no-any-return]

    def equals(self, column: Any, path: JsonPath, value: Any) -> ColumnElement[bool]:
        return self._at(column, path) == _jsonb(value)  # type: ignore[no-any-return]

    def compare(self, column: Any, path: JsonPath, op: str, value: Any) -> ColumnElement[bool]:
        at = self._at(column, path)
        kind = json_kind(value)
        return and_(self._typeof(column, path) == kind, _COMPARE[op](at, _jsonb(value)))

    def contains(self, column: Any, path: JsonPath, value: Any) -> ColumnElement[bool]:
        return self._at(column, path).op("@>")(_jsonb(value))  # type: ignore[no-any-return]

    def has_keys(self, column: Any, path: JsonPath, keys: list[str]) -> ColumnElement[bool]:
        at = self._at(column, path)
        held = at.op("?&")(bindparam("json_keys", keys, type_=ARRAY(Text), unique=True))
        return and_(self._typeof(column, path) == "object", held)

    def text(self, column: Any, path: JsonPath, op: str, value: str) -> ColumnElement[bool]:
        text = cast(column, JSONB).op("#>>")(_text_array(path))
        return and_(self._typeof(column, path) == "string", _text_op(text, op, value))


class SqliteJson(JsonSql):
    """SQLite's JSON functions: `json_extract`, `json_type`, `json_each`."""

    def missing(self, column: Any, path: JsonPath) -> ColumnElement[bool]:
        return func.json_type(column, _sqlite_path(path)).is_(None)

    def equals(self, column: Any, path: JsonPath, value: Any) -> ColumnElement[bool]:
        return _sqlite_equals(column, _sqlite_path(path), value)

    def compare(self, column: Any, path: JsonPath, op: str, value: Any) -> ColumnElement[bool]:
        where = _sqlite_path(path)
        extracted = func.json_extract(column, where)
        return and_(_sqlite_is(column, where, value), _COMPARE[op](extracted, value))

    def contains(self, column: Any, path: JsonPath, value: Any) -> ColumnElement[bool]:
        return _sqlite_contains(column, _sqlite_path(path), value, top=True)

    def has_keys(self, column: Any, path: JsonPath, keys: list[str]) -> ColumnElement[bool]:
        where = _sqlite_path(path)
        held = [func.json_type(column, _sqlite_path((*path, k))).is_not(None) for k in keys]
        return and_(func.json_type(column, where) == "object", *held)

    def text(self, column: Any, path: JsonPath, op: str, value: str) -> ColumnElement[bool]:
        where = _sqlite_path(path)
        extracted = func.json_extract(column, where)
        return and_(func.json_type(column, where) == "text", _text_op(extracted, op, value))


_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}
_SQLITE_TYPES = {
    "null": ("null",),
    "boolean": ("true", "false"),
    "number": ("integer", "real"),
    "string": ("text",),
    "array": ("array",),
    "object": ("object",),
}


def _key(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidQueryError("JSON keys are strings")
    json_kind(value)
    return value


def _ordered(value: Any, op: str) -> Any:
    if json_kind(value) not in ("number", "string"):
        raise InvalidQueryError(f"{op} compares JSON numbers or strings")
    return float(value) if isinstance(value, Decimal) else value


def _jsonb(value: Any) -> Any:
    return cast(bindparam("json_value", _dumps(value), type_=String, unique=True), JSONB)


def _text_array(path: JsonPath) -> Any:
    return bindparam("json_path", [str(p) for p in path], type_=ARRAY(Text), unique=True)


def _text_op(text: Any, op: str, value: str) -> ColumnElement[bool]:
    coerced = type_coerce(text, String)
    if op == "iexact":
        return func.lower(coerced) == func.lower(value)
    result: ColumnElement[bool] = getattr(coerced, op)(value, autoescape=True)
    return result


def _sqlite_path(path: JsonPath) -> Any:
    parts = ["$"]
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif '"' in part or "\\" in part:
            raise InvalidQueryError(f"a JSON key cannot hold quotes or backslashes: {part!r}")
        else:
            parts.append(f'."{part}"')
    return bindparam("json_path", "".join(parts), type_=String, unique=True)


def _sqlite_is(document: Any, where: Any, value: Any) -> ColumnElement[bool]:
    return func.json_type(document, where).in_(_SQLITE_TYPES[json_kind(value)])


def _sqlite_equals(document: Any, where: Any, value: Any) -> ColumnElement[bool]:
    """Structural equality, as JSONB's: object key order does not matter, array order does."""
    kind = json_kind(value)
    type_ = func.json_type(document, where)
    if kind == "null":
        return type_ == "null"
    if kind == "boolean":
        return type_ == ("true" if value else "false")
    if kind in ("number", "string"):
        return and_(_sqlite_is(document, where, value), func.json_extract(document, where) == value)
    if kind == "array":
        parts = [
            _sqlite_equals(document, _joined(where, f"[{i}]"), item) for i, item in enumerate(value)
        ]
        return and_(type_ == "array", func.json_array_length(document, where) == len(value), *parts)
    entries = select(func.count()).select_from(func.json_each(document, where)).scalar_subquery()
    parts = [_sqlite_equals(document, _joined(where, f'."{_key(k)}"'), v) for k, v in value.items()]
    return and_(type_ == "object", entries == len(value), *parts)


def _sqlite_contains(document: Any, where: Any, value: Any, *, top: bool) -> ColumnElement[bool]:
    """JSONB's `@>` on SQLite: objects within objects, elements within arrays."""
    kind = json_kind(value)
    type_ = func.json_type(document, where)
    if kind == "object":
        parts = [
            _sqlite_contains(document, _joined(where, f'."{_key(k)}"'), v, top=False)
            for k, v in value.items()
        ]
        return and_(type_ == "object", *parts)
    if kind == "array":
        parts = [_element_in(document, where, item) for item in value]
        return and_(type_ == "array", *parts)
    scalar = _sqlite_equals(document, where, value)
    if not top:
        return scalar
    # a primitive value within an array, at the top of the comparison
    return or_(scalar, and_(type_ == "array", _element_in(document, where, value)))


def _element_in(document: Any, where: Any, item: Any) -> ColumnElement[bool]:
    each = func.json_each(document, where).table_valued("value", "type", "atom").alias()
    kind = json_kind(item)
    if kind in ("object", "array"):
        root = bindparam("json_path", "$", type_=String, unique=True)
        match = and_(each.c.type == kind, _sqlite_contains(each.c.value, root, item, top=False))
    elif kind == "null":
        match = each.c.type == "null"
    elif kind == "boolean":
        match = each.c.type == ("true" if item else "false")
    else:
        match = and_(each.c.type.in_(_SQLITE_TYPES[kind]), each.c.atom == item)
    return exists(select(true()).select_from(each).where(match))


def _joined(where: Any, suffix: str) -> Any:
    path = where.value + suffix
    return bindparam("json_path", path, type_=String, unique=True)
