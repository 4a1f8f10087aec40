"""get_or_create and update_or_create, safe when two transactions race for one key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orm_core.errors import DuplicateError, InvalidQueryError
from orm_core.lookups import OPERATORS
from orm_repositories.base import ModelT
from orm_repositories.writing import WriteMixin


class GetOrCreateMixin(WriteMixin[ModelT]):
    """Find-or-insert in a savepoint, re-reading when a concurrent insert wins."""

    async def get_or_create(
        self, defaults: Mapping[str, Any] | None = None, **lookups: Any
    ) -> tuple[ModelT, bool]:
        """Return `(row, False)` for the row matching `lookups`, else insert it: `(row, True)`.

        The insert runs in a savepoint: when a concurrent transaction inserted the
        same key first, the unique violation is caught and the winner's row returned.

        Raises:
            InvalidQueryError: a lookup uses an operator, or a field is unknown.
            DuplicateError: the insert clashed on a different unique key.
        """
        values = self._creation_values(defaults, lookups)
        found = await self.first(**lookups)
        if found is not None:
            return found, False
        return await self._insert_or_reread(values, lookups, lock=False)

    async def update_or_create(
        self, defaults: Mapping[str, Any] | None = None, **lookups: Any
    ) -> tuple[ModelT, bool]:
        """Update the row matching `lookups` with `defaults`, or insert it; `(row, created)`.

        The row is locked while it is updated (`FOR NO KEY UPDATE` on PostgreSQL).
        """
        values = self._creation_values(defaults, lookups)
        found = await self._first_locked(lookups)
        if found is not None:
            updates = self._checked_values(defaults or {}, allow_pk=False)
            return await self._apply(found, updates), False
        entity, created = await self._insert_or_reread(values, lookups, lock=True)
        if not created:
            entity = await self._apply(entity, self._checked_values(defaults or {}, allow_pk=False))
        return entity, created

    # -- helpers ------------------------------------------------------------------

    def _creation_values(
        self, defaults: Mapping[str, Any] | None, lookups: Mapping[str, Any]
    ) -> dict[str, Any]:
        if not lookups:
            raise InvalidQueryError("get_or_create needs at least one lookup")
        if defaults is not None and not isinstance(defaults, Mapping):
            raise InvalidQueryError("defaults must be a mapping of field values")
        for key, value in lookups.items():
            _, sep, op = key.rpartition("__")
            if (sep and op in OPERATORS and key not in self.info.fields) or isinstance(value, dict):
                raise InvalidQueryError(
                    f"get_or_create lookups must be plain field=value pairs, not {key!r}"
                )
        values = {**lookups, **(defaults or {})}
        return self._checked_values(values)

    async def _first_locked(self, lookups: Mapping[str, Any]) -> ModelT | None:
        stmt = (
            self._select((), lookups)
            .order_by(*self._ordering(None))
            .limit(1)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
        return await self._first_by(stmt)

    async def _insert_or_reread(
        self, values: dict[str, Any], lookups: Mapping[str, Any], *, lock: bool
    ) -> tuple[ModelT, bool]:
        entity = self.model(**values)
        try:
            async with self.session.begin_nested():
                self.session.add(entity)
                await self._flush()
        except DuplicateError:
            found = await (self._first_locked(lookups) if lock else self.first(**lookups))
            if found is None:
                raise
            return found, False
        await self._ensure_loaded([entity])
        return entity, True
