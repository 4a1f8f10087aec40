"""Opaque, tamper-evident cursors for keyset pagination.

A cursor is `base64url(payload) "." base64url(HMAC-SHA256(payload))`. The payload is
compact JSON naming the model, the ordering the cursor was made for and the sort
values of the last row, each value tagged with its type so that datetimes,
dates, Decimals and UUIDs come back exactly as they went in.

The signing key is the `ORM_CURSOR_SECRET` environment variable, read on every
call. Without it a random key is made once per process: cursors then stop
working after a restart and are not accepted by other worker processes, so any
deployment with more than one worker must set the variable.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
import os
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from orm_core.errors import InvalidQueryError

SECRET_ENV = "ORM_CURSOR_SECRET"
MAX_CURSOR_LENGTH = 4096
_VERSION = 1
_process_key: bytes = b""


def signing_key() -> bytes:
    """Return the HMAC key: `ORM_CURSOR_SECRET`, else a random key made once per process."""
    global _process_key
    secret = os.environ.get(SECRET_ENV)
    if secret:
        return secret.encode()
    if not _process_key:
        _process_key = secrets.token_bytes(32)
    return _process_key


def encode_cursor(scope: str, ordering: Sequence[str], values: Sequence[Any]) -> str:
    """Sign the position `values` of a keyset walk over `scope` ordered by `ordering`."""
    payload = {
        "v": _VERSION,
        "s": scope,
        "o": list(ordering),
        "k": [encode_value(v) for v in values],
    }
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(body)}.{_b64(_sign(body))}"


def decode_cursor(token: Any, scope: str, ordering: Sequence[str]) -> list[Any]:
    """Verify a cursor made for `scope` and `ordering`; return its position values.

    Raises:
        InvalidQueryError: the cursor is not a string, is malformed, truncated or
            forged, or was made for another model or ordering.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_CURSOR_LENGTH:
        raise _bad("the cursor must be a non-empty string from a previous page")
    body_part, dot, sig_part = token.partition(".")
    if not dot:
        raise _bad("malformed cursor")
    body, signature = _unb64(body_part), _unb64(sig_part)
    if not hmac.compare_digest(signature, _sign(body)):
        raise _bad("the cursor signature does not match: it was altered or made elsewhere")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise _bad("malformed cursor") from exc
    if not isinstance(payload, dict) or payload.get("v") != _VERSION:
        raise _bad("unsupported cursor version")
    if payload.get("s") != scope or payload.get("o") != list(ordering):
        raise _bad(
            "the cursor was made for another model or ordering",
            {"cursor_ordering": payload.get("o"), "ordering": list(ordering)},
        )
    values = payload.get("k")
    if not isinstance(values, list) or len(values) != len(ordering):
        raise _bad("malformed cursor")
    return [decode_value(v) for v in values]


# -- typed values -------------------------------------------------------------------

_ENCODERS: list[tuple[type, str, Callable[[Any], Any]]] = [
    (bool, "b", bool),
    (enum.Enum, "e", lambda v: v.name),
    (int, "i", int),
    (float, "f", float),
    (str, "s", str),
    (Decimal, "n", str),
    (datetime, "dt", lambda v: v.isoformat()),
    (date, "d", lambda v: v.isoformat()),
    (time, "t", lambda v: v.isoformat()),
    (timedelta, "td", lambda v: [v.days, v.seconds, v.microseconds]),
    (uuid.UUID, "u", str),
    (bytes, "x", lambda v: _b64(bytes(v))),
]

_DECODERS: dict[str, Callable[[Any], Any]] = {
    "b": lambda v: _typed(v, bool),
    "e": lambda v: _typed(v, str),  # an enum member's name, resolved by the field check
    "i": lambda v: _typed(v, int),
    "f": lambda v: float(_typed(v, float, int)),
    "s": lambda v: _typed(v, str),
    "n": lambda v: Decimal(_typed(v, str)),
    "dt": lambda v: datetime.fromisoformat(_typed(v, str)),
    "d": lambda v: date.fromisoformat(_typed(v, str)),
    "t": lambda v: time.fromisoformat(_typed(v, str)),
    "td": lambda v: timedelta(*_typed(v, list)),
    "u": lambda v: uuid.UUID(_typed(v, str)),
    "x": lambda v: _unb64(_typed(v, str)),
}


def encode_value(value: Any) -> Any:
    """Return a JSON-ready, type-tagged form of one sort value (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bytearray | memoryview):
        value = bytes(value)
    for kind, tag, encode in _ENCODERS:
        if isinstance(value, kind):
            return [tag, encode(value)]
    raise InvalidQueryError(f"cannot put a {type(value).__name__} value in a cursor")


def decode_value(item: Any) -> Any:
    """Invert `encode_value`."""
    if item is None:
        return None
    if not isinstance(item, list) or len(item) != 2 or item[0] not in _DECODERS:
        raise _bad("malformed cursor value")
    try:
        return _DECODERS[item[0]](item[1])
    except (TypeError, ValueError, InvalidOperation, OverflowError) as exc:
        raise _bad("malformed cursor value") from exc


def _typed(value: Any, *kinds: type) -> Any:
    if isinstance(value, bool) and bool not in kinds:
        raise TypeError("unexpected boolean")
    if not isinstance(value, kinds):
        raise TypeError(f"expected {kinds}")
    return value


# -- encoding helpers --------------------------------------------------------------


def _sign(body: bytes) -> bytes:
    return hmac.new(signing_key(), body, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise _bad("malformed cursor") from exc


def _bad(message: str, details: Mapping[str, Any] | None = None) -> InvalidQueryError:
    return InvalidQueryError(message, dict(details or {}))
