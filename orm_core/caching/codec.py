"""Plain values to JSON and back, with their Python types kept: what cache entries hold.

An entry holds column values and query results as JSON text, never pickles, so whoever
can write to the cache store cannot make the application run code. Scalars JSON knows
(`None`, `bool`, `int`, `float`, `str`) stay as they are; every other value becomes a
two-item list `[tag, payload]` (`["d", "9.99"]` for a `Decimal`), and lists, tuples and
dicts are tagged too, so a JSON column's own lists and dicts never pass for a tag.
"""

from __future__ import annotations

import base64
import enum
import json
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

_SCALARS = (str, int, float, type(None))
_EXACT_SCALARS = frozenset({str, int, float, bool, type(None)})


class UnencodableError(ValueError):
    """A value the cache cannot store faithfully (the read is then not cached)."""


class CorruptEntryError(ValueError):
    """An entry that does not decode (the read then goes to the database)."""


def encode(value: Any) -> Any:
    """Return `value` as JSON-able data that `decode` turns back into an equal value.

    Raises:
        UnencodableError: a type outside the supported ones (enums need `decode`'s
            `enums` to come back, so only column values may hold them).
    """
    if type(value) in _EXACT_SCALARS:
        return value
    if isinstance(value, enum.Enum):
        return ["e", value.name]
    encoder = _ENCODERS.get(type(value))
    if encoder is None:
        for kind, candidate in _ENCODERS.items():
            if isinstance(value, kind):
                encoder = candidate
                break
        else:
            raise UnencodableError(f"a {type(value).__name__} cannot be cached")
    return encoder(value)


def decode(data: Any, enum_class: type[enum.Enum] | None = None) -> Any:
    """Return the value `encode` gave `data` for; `enum_class` restores an enum member.

    Raises:
        CorruptEntryError: data `encode` never makes.
    """
    if isinstance(data, _SCALARS):
        return data
    try:
        tag, payload = data
        if tag == "e":
            if enum_class is None:
                raise CorruptEntryError("an enum value without its enum class")
            return enum_class[payload]
        return _DECODERS[tag](payload)
    except CorruptEntryError:
        raise
    except Exception as exc:
        raise CorruptEntryError(f"undecodable cache data {str(data)[:80]!r}") from exc


def dumps(data: Any) -> str:
    """Compact JSON text of encoded data."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def loads(text: str | bytes) -> Any:
    """Parse JSON text of an entry.

    Raises:
        CorruptEntryError: text that is not JSON.
    """
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CorruptEntryError("a cache entry that is not JSON") from exc


def _mapping(value: dict[Any, Any]) -> Any:
    if not all(isinstance(key, str) for key in value):
        raise UnencodableError("only dicts with string keys can be cached")
    return ["o", {key: encode(item) for key, item in value.items()}]


def _set(value: set[Any] | frozenset[Any]) -> Any:
    items = sorted((encode(item) for item in value), key=dumps)
    return ["fs" if isinstance(value, frozenset) else "s", items]


_ENCODERS: dict[type, Callable[[Any], Any]] = {
    Decimal: lambda v: ["d", str(v)],
    datetime: lambda v: ["dt", v.isoformat()],
    date: lambda v: ["da", v.isoformat()],
    time: lambda v: ["t", v.isoformat()],
    timedelta: lambda v: ["td", [v.days, v.seconds, v.microseconds]],
    uuid.UUID: lambda v: ["u", v.hex],
    bytes: lambda v: ["b", base64.b64encode(v).decode("ascii")],
    bytearray: lambda v: ["b", base64.b64encode(v).decode("ascii")],
    memoryview: lambda v: ["b", base64.b64encode(v.tobytes()).decode("ascii")],
    list: lambda v: ["l", [encode(item) for item in v]],
    tuple: lambda v: ["tu", [encode(item) for item in v]],
    dict: _mapping,
    set: _set,
    frozenset: _set,
}

_DECODERS: dict[str, Callable[[Any], Any]] = {
    "d": Decimal,
    "dt": datetime.fromisoformat,
    "da": date.fromisoformat,
    "t": time.fromisoformat,
    "td": lambda p: timedelta(days=p[0], seconds=p[1], microseconds=p[2]),
    "u": uuid.UUID,
    "b": lambda p: base64.b64decode(p.encode("ascii")),
    "l": lambda p: [decode(item) for item in p],
    "tu": lambda p: tuple(decode(item) for item in p),
    "o": lambda p: {key: decode(item) for key, item in p.items()},
    "s": lambda p: {decode(item) for item in p},
    "fs": lambda p: frozenset(decode(item) for item in p),
}
