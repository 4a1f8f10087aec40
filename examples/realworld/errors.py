"""Conduit's refusals, and the handlers that answer in the spec's error shape.

The spec's error body is `{"errors": {"body": [messages]}}`. These handlers give it to
the framework's client errors (not found, duplicate, invalid query) and to request
validation; server errors keep the framework's fixed answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from orm_core import DuplicateError, InvalidQueryError, NotFoundError


class ConduitError(Exception):
    """A request Conduit refuses; `status` is the HTTP answer."""

    status = 422

    def __init__(self, *messages: str) -> None:
        super().__init__(*messages)
        self.messages = list(messages)


class ValidationFailedError(ConduitError):
    """The input is well-formed but not acceptable (a taken username, say)."""


class UnauthorizedError(ConduitError):
    """No valid token, or wrong credentials."""

    status = 401


class ForbiddenError(ConduitError):
    """The user may not change someone else's article or comment."""

    status = 403


class MissingError(ConduitError):
    """The article, profile or comment does not exist."""

    status = 404


def errors(messages: Sequence[str], status: int, **headers: str) -> JSONResponse:
    """The spec's error answer."""
    return JSONResponse({"errors": {"body": list(messages)}}, status_code=status, headers=headers)


async def conduit_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConduitError)
    headers = {"WWW-Authenticate": "Token"} if exc.status == 401 else {}
    return errors(exc.messages, exc.status, **headers)


async def not_found(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NotFoundError)
    model = str(exc.details.get("model") or "resource").lower()
    return errors([f"{model} not found"], 404)


async def duplicate(request: Request, exc: Exception) -> JSONResponse:
    # a concurrent request took the same username, email or slug first
    assert isinstance(exc, DuplicateError)
    return errors([_taken(exc.details)], 422)


async def invalid_query(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidQueryError)
    return errors([exc.message], 422)


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return errors([_describe(error) for error in exc.errors()], 422)


def _taken(details: dict[str, Any]) -> str:
    fields = details.get("fields") or details.get("columns")
    if isinstance(fields, list | tuple) and fields:
        return f"{', '.join(map(str, fields))} has already been taken"
    return "has already been taken"


def _describe(error: dict[str, Any]) -> str:
    # ("body", "user", "email") -> "user.email"; path and query parameters keep their name
    location = [str(part) for part in error.get("loc", ()) if part != "body"]
    message = str(error.get("msg", "is invalid"))
    return f"{'.'.join(location)}: {message}" if location else message


def register_handlers(app: FastAPI) -> None:
    """Answer Conduit's refusals and the framework's client errors in the spec's shape."""
    app.add_exception_handler(ConduitError, conduit_error)
    app.add_exception_handler(NotFoundError, not_found)
    app.add_exception_handler(DuplicateError, duplicate)
    app.add_exception_handler(InvalidQueryError, invalid_query)
    app.add_exception_handler(RequestValidationError, invalid_request)
