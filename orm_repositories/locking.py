"""Pessimistic locking: select_for_update and lock_many.

Rows are locked with `FOR NO KEY UPDATE` rather than `FOR UPDATE`. Both keep
other writers off the row until the transaction ends, but `FOR NO KEY UPDATE`
does not conflict with the `FOR KEY SHARE` lock PostgreSQL takes for foreign-key
checks, so inserting a child row that references a locked parent does not wait.
That is all a caller updating non-key columns needs. (MySQL and MariaDB have no
such mode and take `FOR UPDATE`.)

SQLite has no row locks: these methods read the row without locking. A write
transaction there starts with `BEGIN IMMEDIATE`, which takes the database's single
write lock up front, so a non-read-only unit of work already excludes every other
writer for its whole length.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select

from orm_core.errors import InvalidQueryError
from orm_repositories.base import ModelT
from orm_repositories.reading import ReadMixin


class LockingMixin(ReadMixin[ModelT]):
    """Row locks held until the end of the unit of work's transaction."""

    async def select_for_update(
        self, id: Any, *, nowait: bool = False, skip_locked: bool = False
    ) -> ModelT | None:
        """Lock the row with this id and return its current state, or None.

        A copy the session already holds is refreshed. With `skip_locked`, a row
        locked by another transaction is treated as missing.

        Raises:
            LockNotAvailableError: `nowait=True` and another transaction holds the lock.
            InvalidQueryError: both `nowait` and `skip_locked`, or a bad id.
        """
        ident = self._pk_value(id)
        stmt = self._locked(self._select().where(self._pk_equals(ident)), nowait, skip_locked)
        return await self._first_by(stmt)

    async def lock_many(
        self, ids: Iterable[Any], *, nowait: bool = False, skip_locked: bool = False
    ) -> list[ModelT]:
        """Lock the rows with these ids in primary-key order; return them in that order.

        Taking the locks in one statement ordered by key means two callers locking
        overlapping sets queue instead of deadlocking. Missing ids are skipped, and
        with `skip_locked` so are rows locked elsewhere (the job-queue pattern).

        Raises:
            LockNotAvailableError: `nowait=True` and another transaction holds a lock.
            InvalidQueryError: both `nowait` and `skip_locked`, or a bad id.
        """
        values = sorted(self._pk_values(ids))
        pk = [f.attribute for f in self.info.primary_key]
        found: list[ModelT] = []
        for chunk in self._chunks(values):  # one statement unless past the bind limit
            stmt = self._select().where(self._pk_in(chunk)).order_by(*pk)
            found.extend(await self._all(self._locked(stmt, nowait, skip_locked)))
        return found

    def _locked(self, stmt: Select[Any], nowait: bool, skip_locked: bool) -> Select[Any]:
        if not isinstance(nowait, bool) or not isinstance(skip_locked, bool):
            raise InvalidQueryError("nowait and skip_locked take True or False")
        if nowait and skip_locked:
            raise InvalidQueryError("choose nowait or skip_locked, not both")
        return stmt.with_for_update(
            nowait=nowait, skip_locked=skip_locked, key_share=True
        ).execution_options(populate_existing=True)
