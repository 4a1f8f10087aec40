"""Bulk writes without one ORM object per row: bulk_create and bulk_update.

PostgreSQL (asyncpg) inserts through COPY on the session's own connection (same
transaction); other databases use the driver's executemany. Each call runs in a
savepoint, so a failure leaves none of its rows written, even when the caller
catches the error and commits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm.util import identity_key

from orm_core.errors import InvalidQueryError, OrmError
from orm_core.fields import Field
from orm_core.translate import translate
from orm_repositories.base import ModelT, RepositoryBase
from orm_repositories.pg_copy import NotCopyableError, copy_rows

DEFAULT_BATCH_SIZE = 5_000

Rows = list[dict[str, Any]]
RawRows = Sequence[Mapping[str, Any]]
Inserter = Callable[[AsyncConnection, Table, Sequence[Field], RawRows], Awaitable[int]]


async def _executemany(
    connection: AsyncConnection,
    table: Table,
    fields: Sequence[Field],
    rows: Sequence[Mapping[str, Any]],
) -> int:
    # one single-row INSERT run with many parameter sets; SQLAlchemy splits
    # multi-row VALUES batches under the driver's bind-parameter limit
    plan = [(f.key, f.column.key, f.store) for f in fields]
    params = [{column: store(row[key]) for key, column, store in plan} for row in rows]
    await connection.execute(insert(table), params)
    return len(rows)


async def _copy_or_executemany(
    connection: AsyncConnection,
    table: Table,
    fields: Sequence[Field],
    rows: Sequence[Mapping[str, Any]],
) -> int:
    try:
        return await copy_rows(connection, table, fields, rows)
    except NotCopyableError:
        return await _executemany(connection, table, fields, rows)


# (dialect name, driver) -> how to insert one group of rows sharing their keys
_INSERTERS: dict[tuple[str, str], Inserter] = {("postgresql", "asyncpg"): _copy_or_executemany}


class BulkMixin(RepositoryBase[ModelT]):
    """Insert and update many rows with Core statements."""

    async def bulk_create(
        self, rows: Iterable[Mapping[str, Any]], *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> int:
        """Insert rows given as dicts of field values; return how many were inserted.

        Column defaults (timestamps, versions) are filled in as for `create`.

        Raises:
            InvalidQueryError: an unknown field, a bad value or batch size, or a value
                the database rejects (nothing of the call is kept).
            DuplicateError: a row violates a unique constraint (nothing of the call is kept).
            ConstraintError: a row violates another constraint (nothing of the call is kept).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidQueryError("batch_size must be a positive integer")
        if isinstance(rows, Mapping | str | bytes):
            raise InvalidQueryError("bulk_create takes an iterable of dicts")
        table = self._table()
        await self._flush()
        inserted = 0
        try:
            async with self.session.begin_nested():
                connection = await self.session.connection()
                dialect = connection.dialect
                inserter = _INSERTERS.get((dialect.name, dialect.driver), _executemany)
                for batch in _batches(rows, batch_size):
                    for keys, group in _grouped(batch).items():
                        fields = [self.info.field(k) for k in keys]
                        inserted += await inserter(connection, table, fields, group)
        except OrmError:
            raise
        except Exception as exc:
            raise translate(exc) from exc
        return inserted

    async def bulk_update(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Update rows given as dicts holding their primary key; return the rows matched.

        Rows that match nothing are skipped; a key given twice counts once (last wins).
        `updated_at` is refreshed and a `VersionMixin` version bumped on every row.

        Raises:
            InvalidQueryError: a row without its primary key, an unknown field or a bad
                value (nothing of the call is kept).
        """
        if isinstance(rows, Mapping | str | bytes):
            raise InvalidQueryError("bulk_update takes an iterable of dicts")
        pk_keys = [f.key for f in self.info.primary_key]
        by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            if not isinstance(row, Mapping):
                raise InvalidQueryError("bulk_update takes dicts of field values")
            missing = [k for k in pk_keys if k not in row]
            if missing:
                raise InvalidQueryError(f"bulk_update rows need their primary key {missing}")
            checked = self._checked_values(row)
            by_key.setdefault(tuple(checked[k] for k in pk_keys), {}).update(checked)
        if not by_key:
            return 0
        await self._flush()
        idents = _sorted(by_key)
        matched = 0
        try:
            async with self.session.begin_nested():
                for chunk in self._chunks(idents):
                    matched += await self._lock_existing(self._key_values(chunk))
                groups: dict[tuple[str, ...], Rows] = {}
                for row in by_key.values():
                    groups.setdefault(tuple(row), []).append(row)
                for keys, group in groups.items():
                    await self._update_group(keys, group)
                await self._refresh_held(idents)
        except OrmError:
            raise
        except Exception as exc:
            raise translate(exc) from exc
        return matched

    # -- helpers ------------------------------------------------------------------

    def _table(self) -> Table:
        table = self.model.__table__
        if not isinstance(table, Table):
            raise InvalidQueryError(f"{self.model.__name__} is not mapped to a single table")
        return table

    def _key_values(self, idents: Sequence[tuple[Any, ...]]) -> list[Any]:
        return [i[0] for i in idents] if len(self.info.primary_key) == 1 else list(idents)

    async def _lock_existing(self, values: Sequence[Any]) -> int:
        """Lock the rows about to be updated, in key order; return how many exist."""
        pk = [f.attribute for f in self.info.primary_key]
        stmt = (
            select(*pk)
            .where(self._pk_in(values), *self._scope_criteria())
            .order_by(*pk)
            .with_for_update(key_share=True)
        )
        return len((await self._execute(stmt)).all())

    async def _update_group(self, keys: tuple[str, ...], rows: Rows) -> None:
        fields = self.info.fields
        pk_keys = [f.key for f in self.info.primary_key]
        set_keys = [k for k in keys if k not in pk_keys]
        if not set_keys:
            return
        values: dict[str, Any] = {fields[k].column.key: bindparam(f"v_{k}") for k in set_keys}
        given = dict.fromkeys(set_keys)
        extra = {**self._onupdate_values(given), **self._version_bump(given)}
        values.update({fields[k].column.key: v for k, v in extra.items()})
        where = [fields[k].column == bindparam(f"pk_{k}") for k in pk_keys]
        stmt = update(self._table()).where(*where, *self._scope_criteria()).values(values)
        params = [
            {**{f"pk_{k}": row[k] for k in pk_keys}, **{f"v_{k}": row[k] for k in set_keys}}
            for row in rows
        ]
        connection = await self.session.connection()
        await connection.execute(stmt, params)

    async def _refresh_held(self, idents: Sequence[tuple[Any, ...]]) -> None:
        """Re-read the copies this session holds of updated rows, in one query per chunk."""
        identity_map = self.session.sync_session.identity_map
        held = [i for i in idents if identity_key(self.model, i) in identity_map]
        for chunk in self._chunks(held):
            stmt = (
                select(self.model)
                .where(self._pk_in(self._key_values(chunk)))
                .execution_options(populate_existing=True)
            )
            await self._all(stmt)


def _batches(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def _grouped(rows: Sequence[Any]) -> dict[tuple[str, ...], list[Mapping[str, Any]]]:
    """Group rows by their key set (each set is checked once against the model)."""
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        if type(row) is not dict and not isinstance(row, Mapping):
            raise InvalidQueryError("bulk rows must be dicts of field values")
        keys = tuple(row)
        group = groups.get(keys)
        if group is None:
            group = groups[keys] = []
        group.append(row)
    return groups


def _sorted(keys: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Sort keys so rows are locked in key order; fall back to a stable order."""
    items = list(keys)
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)
