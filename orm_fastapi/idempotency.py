"""Idempotent requests over HTTP: the `Idempotency-Key` header on POST, PATCH and DELETE.

`IdempotencyMiddleware` (added by `setup_orm(..., idempotency=True)`) opens an
`idempotency_scope` around each such request; the `idempotent` dependency, on a route,
gives the scope the request's key. The request's first writing unit of work then claims
the key (`orm_core.idempotency`) and is held open when it ends; the middleware catches
the answer on its way out, stores a 2xx answer in the key's row and commits it with the
work before anything is sent. A commit that fails becomes the error answer instead; any
other answer rolls the work back, so work and answer are kept together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Header, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orm_core import (
    IdempotentRequest,
    OrmError,
    StoredAnswer,
    StoredAnswerError,
    idempotency_scope,
)
from orm_core.idempotency import DEFAULT_TTL, KEY_MAX_LENGTH
from orm_fastapi.handlers import orm_error_handler

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
METHODS = frozenset({"POST", "PATCH", "DELETE"})
SCOPE_KEY = "orm.idempotency"
# headers that describe one transmission, or must never be stored (cookies may be secrets)
_NOT_STORED = frozenset(
    {"content-length", "transfer-encoding", "connection", "date", "server", "set-cookie"}
)


async def idempotent(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            # documented, not validated here: with idempotency off the header is ignored
            json_schema_extra={"minLength": 1, "maxLength": KEY_MAX_LENGTH},
            description=(
                f"Up to {KEY_MAX_LENGTH} characters, unique per operation: a retry with "
                "the same key and body gets the first answer and writes nothing again."
            ),
        ),
    ] = None,
) -> None:
    """Make a POST, PATCH or DELETE route honour the `Idempotency-Key` header.

    Use it as `dependencies=[Depends(idempotent)]`. It does nothing unless the
    application was set up with `setup_orm(..., idempotency=True)` and the request has
    the header. Never put it on a route whose answer holds a secret (a login answering a
    token): the answer is stored in the database and given to whoever repeats the key.

    Raises:
        InvalidQueryError: an empty key, or one longer than 255 characters (HTTP 422).
    """
    pending = request.scope.get(SCOPE_KEY)
    if not isinstance(pending, IdempotentRequest) or idempotency_key is None:
        return
    fingerprint = _fingerprint(await request.body(), request.url.query)
    pending.activate(
        idempotency_key, method=request.method, path=request.url.path, fingerprint=fingerprint
    )


class IdempotencyMiddleware:
    """Store the answers of requests with idempotency keys together with their work.

    Requests other than POST, PATCH and DELETE, and requests whose route or headers do
    not activate a key, pass through untouched.
    """

    def __init__(self, app: ASGIApp, ttl: timedelta = DEFAULT_TTL) -> None:
        self.app = app
        self.ttl = ttl

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in METHODS:
            await self.app(scope, receive, send)
            return
        pending = scope[SCOPE_KEY] = IdempotentRequest(ttl=self.ttl)
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if not pending.held:
                # answered without a held unit: background tasks after it claim nothing
                pending.done = True
                await send(message)
            elif message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    assert start is not None
                    await self._settle(pending, start, b"".join(chunks), scope, receive, send)

        try:
            with idempotency_scope(pending):
                await self.app(scope, receive, capture)
        except StoredAnswerError as stored:
            await _replay(stored.answer)(scope, receive, send)
        finally:
            if pending.held:  # an error escaped after the work: nothing of it commits
                await pending.abandon()

    async def _settle(
        self,
        pending: IdempotentRequest,
        start: Message,
        body: bytes,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """Commit the held work with a 2xx answer, then send it; roll back for any other."""
        status = int(start["status"])
        try:
            if not 200 <= status < 300:
                await pending.abandon()
            else:
                headers = _stored_headers(start.get("headers", []))
                await pending.finish(StoredAnswer(status, body, headers))
        except OrmError as exc:
            response = await orm_error_handler(Request(scope, receive), exc)
            await response(scope, receive, send)
            return
        await send(start)
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _fingerprint(body: bytes, query: str) -> str:
    """A digest of what the request asks: its JSON body (key order and spacing aside), its query."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    digest = hashlib.sha256(canonical)
    digest.update(b"\x00" + query.encode())
    return digest.hexdigest()


def _stored_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name_bytes, value_bytes in raw:
        name, value = name_bytes.decode("latin-1").lower(), value_bytes.decode("latin-1")
        if name not in _NOT_STORED:
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _replay(answer: StoredAnswer) -> Response:
    headers: dict[str, Any] = {**answer.headers, REPLAYED_HEADER.lower(): "true"}
    return Response(answer.body, status_code=answer.status, headers=headers)
