"""Query parameters of list endpoints: whitelisted filters, ordering and their parsing.

A filter field `price` yields the query parameters `price` (equality) and
`price__<op>` for the operators that suit its type. `in`/`not_in` take
comma-separated values and `between` takes `low,high`; each value is converted to
the column's type, and a value that does not convert is an `InvalidQueryError`.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from functools import cache
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError

from orm_core import FieldInfo, InvalidQueryError, parse_lookup

_ORDERED = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "between")
_TEXT = (
    "eq", "ne", "in", "not_in", "contains", "icontains",
    "startswith", "istartswith", "endswith", "iendswith", "iexact",
)  # fmt: skip
_OPERATORS_BY_TYPE: dict[type, tuple[str, ...]] = {
    int: _ORDERED,
    float: _ORDERED,
    Decimal: _ORDERED,
    date: _ORDERED,
    datetime: _ORDERED,
    time: _ORDERED,
    str: _TEXT,
    bool: ("eq", "ne"),
}
_DEFAULT_OPERATORS = ("eq", "ne", "in", "not_in")
_QUERY_TYPES = (int, float, Decimal, str, bool, date, datetime, time, uuid.UUID)
_MULTI = frozenset({"in", "not_in", "between"})

PAGINATION_PARAMS = frozenset({"page", "page_size", "order_by"})


class QueryRoute(APIRoute):
    """A list route whose invalid query parameters are answered as `InvalidQueryError`s.

    FastAPI checks typed parameters (`price__gt=cheap`, `page_size` over the maximum)
    before the endpoint runs; this route gives those failures the same
    `{"detail", "error"}` body as the checks the endpoint makes itself.
    """

    def get_route_handler(self) -> Any:
        """Return the handler, turning request validation errors into `InvalidQueryError`."""
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response: Response = await handler(request)
            except RequestValidationError as exc:
                names = [_location(error) for error in exc.errors()]
                raise InvalidQueryError(_validation_message(exc), {"parameters": names}) from exc
            return response

        return handle


def _location(error: Mapping[str, Any]) -> str:
    return ".".join(str(part) for part in error.get("loc", ())[1:]) or "query"


def _validation_message(exc: RequestValidationError) -> str:
    parts = [f"{_location(e)}: {e.get('msg', 'invalid value')}" for e in exc.errors()]
    return "invalid query parameter " + "; ".join(parts)


@dataclass(frozen=True, slots=True)
class FilterParam:
    """One filter query parameter: `price__gt` is field `price`, operator `gt`."""

    name: str
    field: str
    op: str
    annotation: Any
    value_type: Any
    description: str

    @property
    def multi(self) -> bool:
        """Whether the parameter takes comma-separated values."""
        return self.op in _MULTI


def filter_params(model: type, fields: Iterable[str]) -> list[FilterParam]:
    """Return the query parameters for filtering `model` on `fields`.

    A field may walk relationships (`author__username`, `tags__name`).

    Raises:
        InvalidQueryError: a name that is not a field of `model` or of a related model.
    """
    params: list[FilterParam] = []
    for name in fields:
        path = parse_lookup(model, name)
        if path.field is None or path.op != "eq" or path.name != name:
            raise InvalidQueryError(f"filter field {name!r} must name a field", {"field": name})
        field = path.field
        if path.is_json or field.is_json:
            params.extend(_json_param(name, op) for op in _JSON)
            continue
        operators = _operators_for(field.python_type)
        if field.column.nullable or path.steps:
            operators = (*operators, "isnull")
        for op in operators:
            params.append(_param(name, field, op))
    return params


def parse_filters(params: Sequence[FilterParam], values: Mapping[str, Any]) -> dict[str, Any]:
    """Turn received query values (by parameter name) into repository lookups.

    Raises:
        InvalidQueryError: a comma-separated value does not convert to the column's type.
    """
    lookups: dict[str, Any] = {}
    for param in params:
        raw = values.get(param.name)
        if raw is None:
            continue
        key = param.field if param.op == "eq" else f"{param.field}__{param.op}"
        if param.value_type is _JsonValue:
            lookups[key] = _json_values(param, raw)
            continue
        if not param.multi:
            lookups[key] = raw
            continue
        items = _convert_list(param, raw)
        if param.op == "between":
            if len(items) != 2:
                raise InvalidQueryError(f"{param.name} takes two values: low,high")
            lookups[key] = (items[0], items[1])
        else:
            lookups[key] = items
    return lookups


def parse_order_by(raw: str | None, allowed: Iterable[str]) -> list[str] | None:
    """Parse `-price,name` into order terms, each field checked against `allowed`.

    Raises:
        InvalidQueryError: an empty term or a field outside `allowed`.
    """
    if raw is None:
        return None
    allowed_set = set(allowed)
    terms: list[str] = []
    for term in raw.split(","):
        name = term.strip().lstrip("+-")
        if not name or name not in allowed_set:
            raise InvalidQueryError(
                f"cannot order by {term.strip()!r}",
                {"allowed": sorted(allowed_set)},
            )
        terms.append(f"-{name}" if term.strip().startswith("-") else name)
    return terms


def check_known(received: Iterable[str], known: Iterable[str]) -> None:
    """Reject query parameters that are not declared (a filter outside the whitelist).

    Raises:
        InvalidQueryError: an undeclared query parameter was sent.
    """
    unknown = sorted(set(received) - set(known))
    if unknown:
        raise InvalidQueryError(
            f"unknown or not filterable query parameter {unknown[0]!r}",
            {"unknown": unknown, "allowed": sorted(known)},
        )


def _operators_for(py_type: type | None) -> tuple[str, ...]:
    if py_type is None:
        return _DEFAULT_OPERATORS
    for klass, operators in _OPERATORS_BY_TYPE.items():
        if py_type is klass:
            return operators
    return _DEFAULT_OPERATORS


def _query_type(py_type: type | None) -> Any:
    if py_type in _QUERY_TYPES or (isinstance(py_type, type) and issubclass(py_type, enum.Enum)):
        return py_type
    return str


def _param(path: str, field: FieldInfo, op: str) -> FilterParam:
    name = path if op == "eq" else f"{path}__{op}"
    value_type = _query_type(field.python_type)
    if op == "isnull":
        return FilterParam(name, path, op, bool, bool, f"`{path}` is (true) or is not null")
    if op in _MULTI:
        shape = "low,high" if op == "between" else "comma-separated values"
        return FilterParam(name, path, op, str, value_type, f"`{path}` {op} ({shape})")
    return FilterParam(name, path, op, value_type, value_type, f"`{path}` {op}")


class _JsonValue:
    """Marks a filter on a JSON path: each value is read as JSON, else taken as text."""


# the operators a JSON path offers as query parameters
_JSON = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "has_key",
         "icontains", "isnull")  # fmt: skip


def _json_param(path: str, op: str) -> FilterParam:
    name = path if op == "eq" else f"{path}__{op}"
    if op == "isnull":
        return FilterParam(name, path, op, bool, bool, f"`{path}` holds no value (true) or one")
    shape = " (comma-separated)" if op in ("in", "not_in") else ""
    help_text = f'`{path}` {op}, a JSON value (`3`, `true`, `"x"`) or plain text{shape}'
    return FilterParam(name, path, op, str, _JsonValue, help_text)


def _json_values(param: FilterParam, raw: Any) -> Any:
    if param.op == "isnull":
        return raw
    if param.op in ("in", "not_in"):
        return [_json_value(part) for part in str(raw).split(",")] if raw != "" else []
    return raw if param.op in ("has_key", "icontains") else _json_value(str(raw))


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


@cache
def _adapter(py_type: Any) -> TypeAdapter[Any]:
    return TypeAdapter(py_type)


def _convert_list(param: FilterParam, raw: str) -> list[Any]:
    if raw == "":
        return []
    value_type = param.value_type
    adapter = _adapter(value_type)
    converted: list[Any] = []
    for part in raw.split(","):
        text = part if value_type is str else part.strip()
        try:
            converted.append(adapter.validate_strings(text))
        except ValidationError as exc:
            raise InvalidQueryError(
                f"invalid value {part!r} in {param.name}: expected {value_type.__name__}",
                {"parameter": param.name},
            ) from exc
    return converted
