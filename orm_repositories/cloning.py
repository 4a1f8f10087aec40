"""Cloning: insert a copy of an entity as a new row."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import inspect

from orm_core.errors import InvalidQueryError
from orm_repositories.base import ModelT
from orm_repositories.writing import WriteMixin

# Columns the framework's mixins manage: a copy gets fresh defaults for them.
MANAGED_FIELDS: frozenset[str] = frozenset({"created_at", "updated_at", "deleted_at"})


class CloneMixin(WriteMixin[ModelT]):
    """`clone`: copy an entity's column values into a new row."""

    async def clone(
        self, entity: ModelT, *, exclude_fields: Iterable[str] = (), **overrides: Any
    ) -> ModelT:
        """Insert a copy of `entity` with `overrides` applied, and return the copy.

        The primary key is never copied (pass it in `overrides` for keys the database
        does not generate), and neither are the version, `created_at`, `updated_at`
        and `deleted_at`, so the copy gets their defaults: a new row at version 1,
        created now, not deleted. Fields in `exclude_fields` get their defaults too.
        Relationships are not copied.

        Raises:
            InvalidQueryError: unknown field in `exclude_fields` or `overrides`, or a bad value.
            DuplicateError: a copied unique value clashes; override it.
        """
        self._check_entity(entity)
        if isinstance(exclude_fields, str) or not isinstance(exclude_fields, Iterable):
            raise InvalidQueryError("exclude_fields must be a list of field names")
        excluded = set(exclude_fields)
        for name in excluded:
            self.info.field(name)
        state = inspect(entity)
        if state.persistent and state.session is self.session.sync_session:
            await self._ensure_loaded([entity])
        skipped = self._never_copied() | excluded
        copied = [k for k in self.info.fields if k not in skipped and k in state.dict]
        values = {k: state.dict[k] for k in copied}
        values.update(overrides)
        return await self.create(**values)

    def _never_copied(self) -> set[str]:
        mapper = inspect(self.model)
        skipped = {f.key for f in self.info.primary_key} | (MANAGED_FIELDS & set(self.info.fields))
        if mapper.version_id_col is not None:
            skipped.add(mapper.get_property_by_column(mapper.version_id_col).key)
        return skipped
