"""Soft delete: mark rows deleted instead of removing them, and scoped views."""

from __future__ import annotations

from typing import Any, Self

from sqlalchemy import update

from orm_core.errors import InvalidQueryError
from orm_core.types import utcnow
from orm_repositories.base import ModelT, RepositoryBase


class SoftDeleteScopeMixin(RepositoryBase[ModelT]):
    """`soft_delete`, `restore`, and the `with_deleted()` / `only_deleted()` scopes."""

    def with_deleted(self) -> Self:
        """Return a repository of the same class that also sees soft-deleted rows."""
        return self._scoped("all")

    def only_deleted(self) -> Self:
        """Return a repository of the same class that sees only soft-deleted rows."""
        return self._scoped("deleted")

    async def soft_delete(self, id: Any) -> bool:
        """Mark the row deleted; return False when it is missing or already deleted.

        Raises:
            InvalidQueryError: the model has no `SoftDeleteMixin`.
        """
        return await self._set_deleted(id, deleted=True)

    async def restore(self, id: Any) -> bool:
        """Clear the deleted mark; return False when the row is missing or not deleted."""
        return await self._set_deleted(id, deleted=False)

    async def _set_deleted(self, id: Any, *, deleted: bool) -> bool:
        if not self.soft_deletes:
            raise InvalidQueryError(f"{self.model.__name__} has no SoftDeleteMixin")
        ident = self._pk_value(id)
        column = self.model.deleted_at
        values: dict[str, Any] = {"deleted_at": utcnow() if deleted else None}
        values.update(self._onupdate_values(values))
        stmt = (
            update(self.model)
            .where(self._pk_equals(ident), column.is_(None) if deleted else column.is_not(None))
            .values(values)
            .execution_options(synchronize_session="fetch")
        )
        result = await self._execute(stmt)
        return bool(result.rowcount)  # type: ignore[attr-defined]
