"""Atomic counters: increment and decrement with optional bounds, one UPDATE each.

`UPDATE t SET n = n + :amount WHERE id = :id [AND n + :amount <= :max] RETURNING *`
reads and writes in one statement under the row lock the UPDATE takes, so
concurrent callers never lose an update and a bound is never crossed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, update

from orm_core.errors import InvalidQueryError
from orm_core.fields import Field, check_value
from orm_repositories.base import ModelT
from orm_repositories.conditional import ConditionalUpdateMixin

_NUMERIC_TYPES: tuple[type, ...] = (int, float, Decimal)
# One UPDATE per (model, scope, field, direction, bounded, returning): built once, reused.
_STATEMENTS: dict[tuple[Any, ...], tuple[Any, tuple[str, ...]]] = {}


class CounterMixin(ConditionalUpdateMixin[ModelT]):
    """`increment` and `decrement` as single atomic statements."""

    async def increment(
        self, id: Any, field: str, amount: int | float | Decimal = 1, *, max_value: Any = None
    ) -> ModelT | None:
        """Add `amount` to a numeric field atomically and return the updated entity.

        With `max_value`, the row is only updated when the result stays at or below it.
        Soft-deleted rows never match. Any copy the session holds is refreshed.

        Returns:
            The entity holding the new value, or None when no row matched (missing
            id, or `max_value` would be exceeded).

        Raises:
            InvalidQueryError: the field is unknown or not numeric, or `amount` /
                `max_value` is not a non-negative number of the field's type.
        """
        return await self._add(id, field, amount, bound=max_value, sign=1)

    async def decrement(
        self, id: Any, field: str, amount: int | float | Decimal = 1, *, min_value: Any = None
    ) -> ModelT | None:
        """Subtract `amount` from a numeric field atomically and return the updated entity.

        With `min_value`, the row is only updated when the result stays at or above it
        (`min_value=0` sells stock without ever going negative).

        Returns:
            The entity holding the new value, or None when no row matched (missing
            id, or `min_value` would be crossed).

        Raises:
            InvalidQueryError: the field is unknown or not numeric, or `amount` /
                `min_value` is not a non-negative number of the field's type.
        """
        return await self._add(id, field, amount, bound=min_value, sign=-1)

    async def _add(
        self, id: Any, name: str, amount: Any, *, bound: Any, sign: int
    ) -> ModelT | None:
        ident = self._pk_value(id)
        field = self._counter_field(name)
        amount = _checked_number(field, "amount", amount)
        if amount < 0:
            raise InvalidQueryError(
                f"amount must not be negative; use {'decrement' if sign > 0 else 'increment'}",
                {"field": field.key, "amount": amount},
            )
        params: dict[str, Any] = {"amount": amount}
        if bound is not None:
            what = "max_value" if sign > 0 else "min_value"
            params["bound"] = _checked_number(field, what, bound)
        returning = self._update_returns()
        stmt, onupdate_keys = self._counter_statement(field, sign, bound is not None, returning)
        onupdate = self._onupdate_values({field.key: None})
        params.update({f"set_{k}": onupdate[k] for k in onupdate_keys})
        pk = self.info.primary_key
        idents = ident if len(pk) > 1 else (ident,)
        params.update({f"pk_{f.key}": v for f, v in zip(pk, idents, strict=True)})
        return await self._run_update(stmt, params, ident, returning)

    def _counter_statement(
        self, field: Field, sign: int, bounded: bool, returning: bool
    ) -> tuple[Any, tuple[str, ...]]:
        """Build (once per shape) the UPDATE with bound parameters for every value."""
        key = (self.model, self._scope, field.key, sign, bounded, returning)
        cached = _STATEMENTS.get(key)
        if cached is not None:
            return cached
        column = field.attribute
        amount = bindparam("amount", type_=field.column.type)
        new_value = column + amount if sign > 0 else column - amount
        criteria = [
            f.attribute == bindparam(f"pk_{f.key}", type_=f.column.type)
            for f in self.info.primary_key
        ]
        if bounded:
            limit = bindparam("bound", type_=field.column.type)
            criteria.append(new_value <= limit if sign > 0 else new_value >= limit)
        onupdate_keys = tuple(self._onupdate_values({field.key: None}))
        fields = self.info.fields
        placeholders = {
            k: bindparam(f"set_{k}", type_=fields[k].column.type) for k in onupdate_keys
        }
        managed = self._managed_assignments({field.key: None}, placeholders)
        assignments = {column: new_value, **managed}
        stmt = update(self.model).where(*criteria, *self._scope_criteria()).values(assignments)
        if returning:
            stmt = stmt.returning(self.model)
        options = {"populate_existing": True, "synchronize_session": False}
        cached = (stmt.execution_options(**options), onupdate_keys)
        _STATEMENTS[key] = cached
        return cached

    def _counter_field(self, name: Any) -> Field:
        if not isinstance(name, str):
            raise InvalidQueryError(f"field must be a field name, not {name!r}")
        field = self.info.field(name)
        numeric = field.python_type in _NUMERIC_TYPES and field.python_type is not bool
        if not numeric or field.primary_key or name == self._version_key():
            raise InvalidQueryError(
                f"{name!r} is not a numeric field that can be incremented",
                {"field": name, "model": self.model.__name__},
            )
        return field


def _checked_number(field: Field, what: str, value: Any) -> Any:
    """Check that `value` is a plain number the field accepts (ints for integer fields)."""
    if isinstance(value, bool) or not isinstance(value, _NUMERIC_TYPES):
        raise InvalidQueryError(
            f"{what} must be a number, not {type(value).__name__}",
            {"field": field.key, what: repr(value)},
        )
    try:
        return check_value(field, value)
    except InvalidQueryError as exc:
        message = f"invalid {what} for {field.key!r}: {exc.message}"
        raise InvalidQueryError(message, exc.details) from exc
