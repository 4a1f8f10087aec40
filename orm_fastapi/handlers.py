"""Map framework errors onto HTTP answers, and keep every other failure's details private.

Every answer has the body `{"detail": message, "error": ErrorClassName}`.

| error                          | status                           |
|--------------------------------|----------------------------------|
| NotFoundError                  | 404                              |
| DuplicateError                 | 409                              |
| ConstraintError                | 409                              |
| ConcurrentModificationError    | 409, or 412 with `If-Match`      |
| LockNotAvailableError          | 409                              |
| TransactionConflictError       | 409 (the client may retry)       |
| InvalidQueryError              | 422                              |
| DatabaseUnavailableError       | 503 (with `Retry-After: 1`)      |
| QueryTimeoutError              | 503 (with `Retry-After: 1`)      |
| CommitUnknownError             | 500, generic message             |
| TransactionError, DatabaseError, any other OrmError | 500, generic message |
| any other exception            | 500, generic message             |

5xx answers never carry the error's own message (it may name tables, hosts or
driver internals); the error is logged instead.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
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

logger = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = "internal server error"
COMMIT_UNKNOWN_MESSAGE = "the outcome of the request is unknown; check before retrying"

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


class ErrorBody(BaseModel):
    """The body of every error answer."""

    detail: str
    error: str


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
    """Answer an `OrmError` with its mapped status."""
    if not isinstance(exc, OrmError):
        return await internal_error_handler(request, exc)
    status = status_for(exc, request)
    name = type(exc).__name__
    if status == 503:
        logger.warning("%s %s: %s", request.method, request.url.path, exc.message)
        return error_response(status, exc.message, name, **{"Retry-After": "1"})
    if status >= 500:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        detail = (
            COMMIT_UNKNOWN_MESSAGE
            if isinstance(exc, CommitUnknownError)
            else INTERNAL_ERROR_MESSAGE
        )
        return error_response(status, detail, name)
    return error_response(status, exc.message, name)


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
    """Register the `OrmError` handler and the catch-all 500 on `app`."""
    app.add_exception_handler(OrmError, orm_error_handler)
    app.add_middleware(CatchAllMiddleware)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Not found"},
    409: {"model": ErrorBody, "description": "Conflict"},
    422: {"description": "Invalid input"},
    503: {"model": ErrorBody, "description": "Database unavailable"},
}
