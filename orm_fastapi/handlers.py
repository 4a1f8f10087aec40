"""Map framework errors onto HTTP answers, and keep every other failure's details private.

Every error answer has one body shape, `ErrorBody`: `{"detail": message, "error": name}`.

| error                          | status                           |
|--------------------------------|----------------------------------|
| NotFoundError                  | 404                              |
| DuplicateError                 | 409                              |
| ConstraintError                | 409                              |
| ConcurrentModificationError    | 409, or 412 with `If-Match`      |
| LockNotAvailableError          | 409                              |
| TransactionConflictError       | 409 (the client may retry)       |
| InvalidQueryError              | 422                              |
| request validation (FastAPI)   | 422, as `InvalidQueryError`      |
| DatabaseUnavailableError       | 503 (with `Retry-After: 1`)      |
| QueryTimeoutError              | 503 (with `Retry-After: 1`)      |
| CommitUnknownError             | 500                              |
| TransactionError, DatabaseError, any other OrmError | 500         |
| any other exception            | 500, error `InternalServerError` |
| `HTTPException` (unknown path, 405, a guard's 401) | its status, error named after it |

A 5xx body carries the fixed sentence of its error class (`SERVER_ERROR_MESSAGES`),
never the error's own message: that may name hosts, ports, tables or driver
internals. The message goes to the log instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orm_core import (
    CommitUnknownError,
    ConcurrentModificationError,
    ConstraintError,
    DatabaseUnavailableError,
    DuplicateError,
    InvalidQueryError,
    LockNotAvailableError,
    NotFoundError,
    OrmError,
    QueryTimeoutError,
    TransactionConflictError,
)
from orm_fastapi.openapi import document_error_bodies

logger = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = "internal server error"
COMMIT_UNKNOWN_MESSAGE = "the outcome of the request is unknown; check before retrying"

SERVER_ERROR_MESSAGES: dict[type[OrmError], str] = {
    DatabaseUnavailableError: "the database is unavailable; retry later",
    QueryTimeoutError: "the database did not answer in time; retry later",
    CommitUnknownError: COMMIT_UNKNOWN_MESSAGE,
    OrmError: INTERNAL_ERROR_MESSAGE,
}
"""The one sentence a 5xx body carries for each error class (most specific class wins)."""

ERROR_STATUS: dict[type[OrmError], int] = {
    NotFoundError: 404,
    DuplicateError: 409,
    ConstraintError: 409,
    ConcurrentModificationError: 409,
    LockNotAvailableError: 409,
    TransactionConflictError: 409,
    InvalidQueryError: 422,
    DatabaseUnavailableError: 503,
    QueryTimeoutError: 503,
}


def error_response(status: int, detail: str, error: str, **headers: str) -> JSONResponse:
    """Build the JSON answer `{"detail": detail, "error": error}`."""
    return JSONResponse({"detail": detail, "error": error}, status_code=status, headers=headers)


def status_for(exc: OrmError, request: Request | None = None) -> int:
    """Return the HTTP status for an `OrmError` (most specific class wins)."""
    for klass in type(exc).__mro__:
        status = ERROR_STATUS.get(klass)
        if status is not None:
            if (
                klass is ConcurrentModificationError
                and request is not None
                and "if-match" in request.headers
            ):
                return 412
            return status
    return 500


async def orm_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer an `OrmError` with its mapped status; a 5xx with its class's fixed sentence."""
    if not isinstance(exc, OrmError):
        return await internal_error_handler(request, exc)
    status = status_for(exc, request)
    name = type(exc).__name__
    if status < 500:
        return error_response(status, exc.message, name)
    if status == 503:
        logger.warning(
            "%s %s: %s: %s%s", request.method, request.url.path, name, exc.message, _cause(exc)
        )
        return error_response(status, server_message(exc), name, **{"Retry-After": "1"})
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(status, server_message(exc), name)


def _cause(exc: BaseException) -> str:
    """The innermost cause of `exc` as ` (Class: first line)`, for the log; empty if none."""
    inner = exc
    seen = {id(exc)}
    while inner.__cause__ is not None and id(inner.__cause__) not in seen:
        inner = inner.__cause__
        seen.add(id(inner))
    if inner is exc:
        return ""
    text = str(inner).strip().splitlines()
    return f" ({type(inner).__name__}: {text[0] if text else ''})"


def server_message(exc: OrmError) -> str:
    """Return the fixed sentence a 5xx answer carries for `exc`'s class."""
    for klass in type(exc).__mro__:
        message = SERVER_ERROR_MESSAGES.get(klass)
        if message is not None:
            return message
    return INTERNAL_ERROR_MESSAGE  # pragma: no cover - OrmError is in the table


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer a request FastAPI could not validate like any `InvalidQueryError` (422)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return error_response(422, validation_message(errors), InvalidQueryError.__name__)


def validation_message(errors: Sequence[Mapping[str, Any]]) -> str:
    """Describe validation errors as `body.price: Input should be ...; query.page: ...`."""
    parts = [
        f"{'.'.join(str(p) for p in e.get('loc', ())) or 'request'}: "
        f"{e.get('msg', 'invalid value')}"
        for e in errors
    ]
    return "invalid request: " + ("; ".join(parts) or "invalid value")


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Give an `HTTPException` (unknown path, wrong method, a guard's 401) the error body.

    The error is named after the status (`NotFoundError`, `MethodNotAllowedError`); an
    exception whose detail is not text keeps FastAPI's own answer.
    """
    if not isinstance(exc, HTTPException) or not isinstance(exc.detail, str):
        return await http_exception_handler(request, exc)  # type: ignore[arg-type]
    if exc.status_code < 400 or exc.status_code in (204, 304):
        return await http_exception_handler(request, exc)
    response = error_response(exc.status_code, exc.detail, http_error_name(exc.status_code))
    response.headers.update(exc.headers or {})
    return response


def http_error_name(status: int) -> str:
    """`NotFoundError` for 404, `MethodNotAllowedError` for 405, `HTTPError` if unknown."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "HTTPError"
    words = "".join(w.capitalize() for w in phrase.replace("-", " ").split() if w.isalnum())
    return f"{words}Error" if words else "HTTPError"


async def internal_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer any unexpected exception with a bare 500."""
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, INTERNAL_ERROR_MESSAGE, "InternalServerError")


class CatchAllMiddleware:
    """Turn an exception no handler took into a clean 500 instead of a server traceback.

    Starlette's own handler for `Exception` re-raises after answering; this
    middleware answers and stops there, so test clients see the 500 too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            response = await internal_error_handler(Request(scope), exc)
            await response(scope, receive, send)


def register_error_handlers(app: FastAPI) -> None:
    """Register the `OrmError`, validation and HTTP handlers and the catch-all 500 on `app`.

    The application's OpenAPI document then shows the body these handlers give:
    every 422 is an `ErrorBody`, and every operation documents its 500.
    """
    app.add_exception_handler(OrmError, orm_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_middleware(CatchAllMiddleware)
    document_error_bodies(app, validation_error_handler)
