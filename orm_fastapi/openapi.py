"""The OpenAPI side of the error answers: the body model and the documented responses.

`ErrorBody` is the one body of every error answer. `ERROR_RESPONSES` holds the OpenAPI
`responses` entries of each error status with that body; `document_error_bodies`
rewrites an application's document so FastAPI's own validation body (which the
handlers replace) no longer appears in it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel


class ErrorBody(BaseModel):
    """The body of every error answer."""

    detail: str
    error: str


RETRY_AFTER_HEADER: dict[str, Any] = {
    "description": "Seconds to wait before retrying",
    "schema": {"type": "string"},
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The request body could not be read"},
    404: {"model": ErrorBody, "description": "Not found"},
    409: {
        "model": ErrorBody,
        "description": "Conflict: a duplicate or constraint violation, a concurrent change, "
        "a locked row, or a transaction the database aborted (retry it)",
    },
    412: {"model": ErrorBody, "description": "`If-Match` names a version that is not current"},
    422: {"model": ErrorBody, "description": "Invalid input (body, path, query or header)"},
    500: {"model": ErrorBody, "description": "Internal error; the body holds a fixed message"},
    503: {
        "model": ErrorBody,
        "description": "The database is unavailable or did not answer in time; retry later",
        "headers": {"Retry-After": RETRY_AFTER_HEADER},
    },
}
"""OpenAPI `responses` for the error answers, each with the actual body model."""


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Return the `ERROR_RESPONSES` entries for `codes`, for a route's `responses=`."""
    return {code: ERROR_RESPONSES[code] for code in codes}


_ERROR_BODY_REF = {"$ref": "#/components/schemas/ErrorBody"}
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def document_error_bodies(app: FastAPI, validation_handler: Callable[..., Any]) -> None:
    """Make `app.openapi()` describe the error bodies the handlers really give.

    FastAPI documents its own `{"detail": [...]}` validation body for every 422; while
    `validation_handler` answers those with `ErrorBody`, the document says so (an
    application that registers a handler of its own keeps FastAPI's entry and its own
    422 entries). Every operation lists the 500 the catch-all answers with.
    """
    build = app.openapi
    done = False

    def openapi() -> dict[str, Any]:
        nonlocal done
        schema = build()
        if not done:
            ours = app.exception_handlers.get(RequestValidationError) is validation_handler
            _rewrite_error_bodies(schema, validation=ours)
            done = True
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _rewrite_error_bodies(schema: dict[str, Any], *, validation: bool) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("ErrorBody", ErrorBody.model_json_schema())
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses") if isinstance(operation, dict) else None
            if not isinstance(responses, dict):
                continue
            if validation and _fastapi_validation(responses.get("422")):
                responses["422"] = _error_response(ERROR_RESPONSES[422]["description"])
            if "requestBody" in operation:  # Starlette's answer to a body it cannot read
                responses.setdefault("400", _error_response(ERROR_RESPONSES[400]["description"]))
            responses.setdefault("500", _error_response(ERROR_RESPONSES[500]["description"]))
    for name in _FASTAPI_VALIDATION_SCHEMAS:  # drop FastAPI's body once nothing refers to it
        others = {key: value for key, value in components.items() if key != name}
        used = json.dumps([schema.get("paths", {}), others])
        if f'"#/components/schemas/{name}"' not in used:
            components.pop(name, None)


def _fastapi_validation(response: Any) -> bool:
    """Whether a 422 entry is FastAPI's own (its validation body, or no body at all)."""
    if not isinstance(response, dict):
        return False
    return "content" not in response or "#/components/schemas/HTTPValidationError" in json.dumps(
        response
    )


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": dict(_ERROR_BODY_REF)}},
    }
