"""Atomic conditional writes: update_if and optimistic locking with update_with_lock.

Each method is one `UPDATE … WHERE … RETURNING *`: the condition is checked by
the database in the same statement that writes, so no other transaction can slip
in between a read and the write. Dialects without `UPDATE … RETURNING`
(MySQL, MariaDB) re-read the row by key inside the same transaction instead;
the row is locked by the UPDATE, so the re-read sees exactly what was written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, inspect, update
from sqlalchemy.orm import Mapper

from orm_core.errors import ConcurrentModificationError, InvalidQueryError
from orm_core.lookups import build_filters
from orm_repositories.base import ModelT
from orm_repositories.reading import ReadMixin


class ConditionalUpdateMixin(ReadMixin[ModelT]):
    """`update_if` and `update_with_lock`, plus the atomic-UPDATE helper they share."""

    async def update_if(
        self, id: Any, conditions: Mapping[str, Any], **values: Any
    ) -> tuple[bool, ModelT | None]:
        """Update the row only if it still matches `conditions`, in one statement.

        `conditions` use the lookup syntax (`{"stock__gte": 1}`); values may be SQL
        expressions (`stock=Product.stock - 1`). Soft-deleted rows never match.

        Returns:
            `(True, entity)` holding the stored values, or `(False, None)` when the
            row is missing or no longer matches.

        Raises:
            InvalidQueryError: unknown field or operator, a bad value, or no values.
        """
        ident = self._pk_value(id)
        if not isinstance(conditions, Mapping):
            raise InvalidQueryError("update_if conditions must be a mapping of lookups")
        if not values:
            raise InvalidQueryError("update_if needs at least one value to set")
        checked = self._checked_values(values, allow_pk=False)
        self._reject_version(checked)
        criteria = build_filters(self.model, conditions)
        entity = await self._update_returning(ident, criteria, checked)
        return (entity is not None), entity

    async def update_with_lock(self, entity: ModelT, /, **values: Any) -> ModelT:
        """Write `values` only if the row still has the version `entity` was read at.

        The entity may come from an earlier unit of work; the returned entity belongs
        to this repository's session and holds the new values and version.

        Raises:
            ConcurrentModificationError: the row changed (or went) since it was read.
            InvalidQueryError: the model has no `VersionMixin`, or a bad field or value.
        """
        version = self._version_key()
        if version is None:
            raise InvalidQueryError(
                f"update_with_lock needs a VersionMixin model; {self.model.__name__} has no version"
            )
        if not isinstance(entity, self.model):
            raise InvalidQueryError(
                f"expected a {self.model.__name__}, got {type(entity).__name__}"
            )
        checked = self._checked_values(values, allow_pk=False)
        self._reject_version(checked)
        if entity in self.session:
            await self._flush()  # pending changes on the held copy would bump the version
        held = await self._loaded_values(entity, [version, *(f.key for f in self.info.primary_key)])
        ident = self._pk_value(self._pk_of_values(held))
        expected = held[version]
        condition = self.info.fields[version].attribute == expected
        updated = await self._update_returning(ident, [condition], checked)
        if updated is None:
            raise ConcurrentModificationError(
                f"{self.model.__name__} was modified or deleted by another transaction",
                {"model": self.model.__name__, "id": ident, "expected_version": expected},
            )
        return updated

    # -- shared by the atomic writers -----------------------------------------------

    async def _update_returning(
        self, ident: Any, criteria: Sequence[ColumnElement[bool]], values: Mapping[str, Any]
    ) -> ModelT | None:
        """Run one UPDATE of the row `ident` under `criteria`; return its new state or None.

        `updated_at` is refreshed and a `VersionMixin` version bumped, so a holder of
        an older copy fails its own optimistic check instead of overwriting this write.
        """
        fields = self.info.fields
        assignments: dict[Any, Any] = {fields[k].attribute: v for k, v in values.items()}
        assignments.update(self._managed_assignments(values, self._onupdate_values(values)))
        stmt = (
            update(self.model)
            .where(self._pk_equals(ident), *self._scope_criteria(), *criteria)
            .values(assignments)
        )
        returning = self._update_returns()
        if returning:
            stmt = stmt.returning(self.model)
        options = {"populate_existing": True, "synchronize_session": False}
        return await self._run_update(stmt.execution_options(**options), None, ident, returning)

    def _managed_assignments(
        self, values: Mapping[str, Any], onupdate: Mapping[str, Any]
    ) -> dict[Any, Any]:
        """The `onupdate` values and the version bump that every atomic UPDATE carries."""
        fields = self.info.fields
        assignments: dict[Any, Any] = {fields[k].attribute: v for k, v in onupdate.items()}
        version = self._version_key()
        if version is not None and version not in values:
            attribute = fields[version].attribute
            assignments[attribute] = attribute + 1
        return assignments

    def _update_returns(self) -> bool:
        """Whether the dialect can return the updated row from the UPDATE itself."""
        return bool(self.session.get_bind().dialect.update_returning)

    async def _run_update(
        self, stmt: Any, params: Mapping[str, Any] | None, ident: Any, returning: bool
    ) -> ModelT | None:
        """Execute an UPDATE of one row; return the row's new state (refreshing held copies)."""
        if returning:
            entity: ModelT | None = (await self._execute(stmt, params)).scalars().first()
            return entity
        result = await self._execute(stmt, params)
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        reread = self._select().where(self._pk_equals(ident))
        return await self._first_by(reread.execution_options(populate_existing=True))

    def _version_key(self) -> str | None:
        """Return the attribute name of the model's `version_id_col`, if it has one."""
        model: type = self.model
        return version_key(model)

    def _reject_version(self, values: Mapping[str, Any]) -> None:
        version = self._version_key()
        if version is not None and version in values:
            raise InvalidQueryError(f"{version!r} is managed by optimistic locking; do not set it")

    async def _loaded_values(self, entity: Any, keys: Sequence[str]) -> dict[str, Any]:
        """Read attributes without lazy loading; refresh only an entity of this session."""
        state = inspect(entity)
        if any(k not in state.dict for k in keys):
            if state.session is not self.session.sync_session or not state.persistent:
                raise InvalidQueryError(
                    f"the {self.model.__name__} has no loaded {', '.join(keys)}: "
                    "pass an entity read from the database"
                )
            await self._ensure_loaded([entity])
        return {k: state.dict[k] for k in keys}

    def _pk_of_values(self, values: Mapping[str, Any]) -> Any:
        key = tuple(values[f.key] for f in self.info.primary_key)
        return key[0] if len(key) == 1 else key


@cache
def version_key(model: type) -> str | None:
    """Return the attribute name of `model`'s `version_id_col`, if it has one."""
    mapper: Mapper[Any] = inspect(model)
    column = mapper.version_id_col
    if column is None:
        return None
    key: str = mapper.get_property_by_column(column).key
    return key
