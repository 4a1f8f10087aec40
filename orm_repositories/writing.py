"""Writes through the session: add, create, update, delete, and writes by criteria."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, inspect, update

from orm_core.errors import InvalidQueryError
from orm_core.fields import quantized
from orm_repositories.base import ModelT
from orm_repositories.reading import ReadMixin


class WriteMixin(ReadMixin[ModelT]):
    """Writing methods that keep the session's objects in step with the database."""

    async def add(self, entity: ModelT) -> ModelT:
        """Add a new entity, flush it, and return it with its generated values."""
        self._check_entity(entity)
        self.session.add(entity)
        await self._flush()
        await self._ensure_loaded([entity])
        return entity

    async def add_many(self, entities: Iterable[ModelT]) -> list[ModelT]:
        """Add several entities in one flush."""
        items = list(entities)
        for entity in items:
            self._check_entity(entity)
        self.session.add_all(items)
        await self._flush()
        await self._ensure_loaded(items)
        return items

    async def create(self, **values: Any) -> ModelT:
        """Build an entity from field values, insert it, and return it.

        Raises:
            InvalidQueryError: unknown field or a value of the wrong type.
            DuplicateError: a unique constraint was violated.
        """
        entity = self.model(**self._checked_values(values))
        return await self.add(entity)

    async def update(self, id: Any, /, **values: Any) -> ModelT:
        """Set fields on the row with this id and return the updated entity.

        Raises:
            NotFoundError: no such row.
            ConcurrentModificationError: a `VersionMixin` row changed meanwhile.
        """
        checked = self._checked_values(values, allow_pk=False)
        entity = await self.get_one(id)
        return await self._apply(entity, checked)

    async def update_fields(self, entity: ModelT, /, **values: Any) -> ModelT:
        """Set fields on an entity and flush; an entity from another session is re-read here.

        Raises:
            NotFoundError: the entity's row no longer exists.
        """
        self._check_entity(entity)
        checked = self._checked_values(values, allow_pk=False)
        if entity not in self.session:
            entity = await self.get_one(self._pk_of(entity))
        return await self._apply(entity, checked)

    async def update_where(self, values: Mapping[str, Any], /, *where: Any, **lookups: Any) -> int:
        """Update every matching row in one statement; return the number of rows matched.

        Values may be SQL expressions (`stock=Product.stock - 1`). At least one
        condition is required; pass `sqlalchemy.true()` to update every row.
        """
        if not isinstance(values, Mapping) or not values:
            raise InvalidQueryError("update_where needs a non-empty mapping of values")
        checked = self._checked_values(values, allow_pk=False)
        criteria = self._required_criteria(where, lookups, "update_where")
        checked.update({**self._onupdate_values(checked), **self._version_bump(checked)})
        stmt = update(self.model).where(*criteria).values(checked)
        result = await self._execute(stmt.execution_options(synchronize_session="fetch"))
        await self._reload_expired()
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def delete(self, id: Any) -> bool:
        """Delete the row with this id (soft-deleted or not); return whether it existed."""
        entity = await self._scoped("all").get(id)
        if entity is None:
            return False
        await self.session.delete(entity)
        await self._flush()
        return True

    async def bulk_delete(self, ids: Iterable[Any]) -> int:
        """Delete the rows with these ids in chunked statements; return how many went."""
        values = self._pk_values(ids)
        deleted = 0
        for chunk in self._chunks(values):
            stmt = delete(self.model).where(self._pk_in(chunk))
            result = await self._execute(stmt.execution_options(synchronize_session="fetch"))
            deleted += int(result.rowcount)  # type: ignore[attr-defined]
        return deleted

    async def delete_where(self, *where: Any, **lookups: Any) -> int:
        """Delete every matching row in one statement; return how many went.

        At least one condition is required; pass `sqlalchemy.true()` to delete every row.
        """
        criteria = self._required_criteria(where, lookups, "delete_where")
        stmt = delete(self.model).where(*criteria)
        result = await self._execute(stmt.execution_options(synchronize_session="fetch"))
        return int(result.rowcount)  # type: ignore[attr-defined]

    # -- helpers ------------------------------------------------------------------

    def _check_entity(self, entity: Any) -> None:
        if not isinstance(entity, self.model):
            raise InvalidQueryError(
                f"expected a {self.model.__name__}, got {type(entity).__name__}"
            )
        # round decimals as `create` does, so both databases store the same value
        loaded = inspect(entity).dict
        for field in self.info.fields.values():
            if field.scale is not None and loaded.get(field.key) is not None:
                rounded = quantized(field, loaded[field.key])
                if rounded != loaded[field.key] or type(rounded) is not type(loaded[field.key]):
                    setattr(entity, field.key, rounded)

    def _required_criteria(self, where: Any, lookups: Mapping[str, Any], method: str) -> list[Any]:
        if not where and not lookups:
            raise InvalidQueryError(
                f"{method} needs at least one condition; pass sqlalchemy.true() to match all rows"
            )
        return self._criteria(where, lookups)

    async def _apply(self, entity: ModelT, values: Mapping[str, Any]) -> ModelT:
        for key, value in values.items():
            setattr(entity, key, value)
        if inspect(entity).modified:
            await self._flush()
            await self._ensure_loaded([entity])
        return entity
