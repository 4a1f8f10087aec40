from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from orm_core import InvalidQueryError
from orm_core import cursor as cursors
from orm_core.cursor import decode_cursor, encode_cursor
from tests.models import Color

ORDER = ["-price", "id"]

VALUES = [
    None,
    True,
    0,
    -(2**62),
    1.5,
    "text with . and ünïcode",
    Decimal("12345678901234567890.000000001"),
    datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2024, 1, 1, 12, 0),
    date(1999, 12, 31),
    time(23, 1, 2, 3),
    timedelta(days=-1, seconds=5, microseconds=7),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    b"\x00\xffbytes",
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_every_supported_value_round_trips_with_its_type(value):
    token = encode_cursor("products:Product", ["x"], [value])
    [back] = decode_cursor(token, "products:Product", ["x"])
    assert back == value
    assert type(back) is type(value)
    if isinstance(value, datetime):
        assert back.utcoffset() == value.utcoffset()


def test_an_enum_travels_as_its_member_name():
    token = encode_cursor("notes:Note", ["color"], [Color.BLUE])
    assert decode_cursor(token, "notes:Note", ["color"]) == ["BLUE"]


def test_a_value_of_unknown_type_cannot_be_encoded():
    with pytest.raises(InvalidQueryError):
        encode_cursor("s", ["x"], [object()])


def test_the_cursor_is_opaque_url_safe_text():
    token = encode_cursor("products:Product", ORDER, [Decimal("9.99"), 7])
    assert all(c.isalnum() or c in "-_." for c in token)
    assert "9.99" not in token


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b", "....", "!!!.???", "x" * 5000, "é.é", "eyJ9.AAAA"],
)
def test_garbage_is_rejected_as_an_invalid_query(token):
    with pytest.raises(InvalidQueryError):
        decode_cursor(token, "products:Product", ORDER)


@pytest.mark.parametrize("token", [None, 12, b"abc", ["a"]])
def test_a_non_string_cursor_is_rejected(token):
    with pytest.raises(InvalidQueryError):
        decode_cursor(token, "products:Product", ORDER)


def test_a_truncated_cursor_is_rejected():
    token = encode_cursor("products:Product", ORDER, [Decimal("9.99"), 7])
    for cut in (1, 5, len(token) // 2, len(token) - 1):
        with pytest.raises(InvalidQueryError):
            decode_cursor(token[:cut], "products:Product", ORDER)


def test_a_cursor_with_a_rewritten_payload_fails_the_signature_check():
    token = encode_cursor("products:Product", ORDER, [Decimal("9.99"), 7])
    body, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["k"][1] = ["i", 1]
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidQueryError, match="signature"):
        decode_cursor(f"{forged}.{signature}", "products:Product", ORDER)


def test_flipping_one_character_of_the_signature_is_detected():
    token = encode_cursor("products:Product", ORDER, [Decimal("9.99"), 7])
    last = "A" if token[-2] != "A" else "B"
    with pytest.raises(InvalidQueryError):
        decode_cursor(token[:-2] + last + token[-1], "products:Product", ORDER)


def test_a_cursor_is_bound_to_its_ordering_and_its_model():
    token = encode_cursor("products:Product", ORDER, [Decimal("9.99"), 7])
    with pytest.raises(InvalidQueryError, match="another model or ordering"):
        decode_cursor(token, "products:Product", ["price", "id"])
    with pytest.raises(InvalidQueryError, match="another model or ordering"):
        decode_cursor(token, "orders:Order", ORDER)


def test_the_secret_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("ORM_CURSOR_SECRET", "one secret")
    token = encode_cursor("s", ["id"], [1])
    assert decode_cursor(token, "s", ["id"]) == [1]
    monkeypatch.setenv("ORM_CURSOR_SECRET", "another secret")
    with pytest.raises(InvalidQueryError, match="signature"):
        decode_cursor(token, "s", ["id"])


def test_without_a_secret_a_random_key_is_kept_for_the_process(monkeypatch):
    monkeypatch.delenv("ORM_CURSOR_SECRET", raising=False)
    first = cursors.signing_key()
    assert len(first) == 32 and cursors.signing_key() == first
    token = encode_cursor("s", ["id"], [1])
    monkeypatch.setattr(cursors, "_process_key", b"")  # as another worker process would
    with pytest.raises(InvalidQueryError):
        decode_cursor(token, "s", ["id"])


def test_a_signed_payload_with_the_wrong_shape_is_still_rejected(monkeypatch):
    monkeypatch.setenv("ORM_CURSOR_SECRET", "k")
    for payload in ([], {"v": 99}, {"v": 1, "s": "s", "o": ["id"], "k": "x"},
                    {"v": 1, "s": "s", "o": ["id"], "k": [["zz", 1]]},
                    {"v": 1, "s": "s", "o": ["id"], "k": [["i", "1"]]},
                    {"v": 1, "s": "s", "o": ["id"], "k": [["i", True]]},
                    {"v": 1, "s": "s", "o": ["id"], "k": [["dt", "not a date"]]},
                    {"v": 1, "s": "s", "o": ["id"], "k": [1, 2]}):  # fmt: skip
        body = json.dumps(payload).encode()
        token = f"{cursors._b64(body)}.{cursors._b64(cursors._sign(body))}"
        with pytest.raises(InvalidQueryError):
            decode_cursor(token, "s", ["id"])
