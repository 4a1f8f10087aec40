"""Bulk writes without one ORM object per row: bulk_create and bulk_update.

PostgreSQL inserts through COPY on the session's own connection (same
transaction); other databases use the driver's executemany. Each call runs in a
savepoint, so a failure leaves none of its rows written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm.util import identity_key
from sqlalchemy.orm.attributes import set_committed_value

from orm_core.errors import InvalidQueryError, OrmError
from orm_core.translate import translate
from orm_repositories.base import ModelT, RepositoryBase

DEFAULT_BATCH_SIZE = 5_000


class BulkMixin(RepositoryBase[ModelT]):
    """Insert and update many rows with Core statements."""

    async def bulk_create(
        self, rows: Iterable[Mapping[str, Any]], *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> int:
        """Insert rows given as dicts of field values; return how many were inserted.

        Column defaults (timestamps, versions) are filled in as for `create`.

        Raises:
            InvalidQueryError: an unknown field, a bad batch size, or a value the database rejects.
            DuplicateError: a row violates a unique constraint (nothing of the call is kept).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidQueryError("batch_size must be a positive integer")
        table = self._table()
        iterator = iter(rows)
        inserted = 0
        try:
            async with self.session.begin_nested():
                while batch := list(islice(iterator, batch_size)):
                    for keys, group in self._group_rows(batch).items():
                        inserted += await self._insert_group(table, keys, group)
        except OrmError:
            raise
        except Exception as exc:
            raise translate(exc) from exc
        return inserted

    async def bulk_update(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Update rows given as dicts holding their primary key; return the rows matched.

        Rows that match nothing are skipped; a key given twice counts once (last wins).
        """
        pk_keys = [f.key for f in self.info.primary_key]
        by_key: dict[Any, dict[str, Any]] = {}
        for row in rows:
            if not isinstance(row, Mapping):
                raise InvalidQueryError("bulk_update takes dicts of field values")
            missing = [k for k in pk_keys if k not in row]
            if missing:
                raise InvalidQueryError(f"bulk_update rows need their primary key {missing}")
            checked = self._checked_values(row)
            ident = tuple(checked[k] for k in pk_keys)
            by_key.setdefault(ident, {}).update(checked)
        if not by_key:
            return 0
        matched = 0
        try:
            async with self.session.begin_nested():
                idents = sorted(by_key, key=repr) if len(pk_keys) > 1 else sorted(by_key)
                for chunk in self._chunks(idents):
                    values = [c[0] for c in chunk] if len(pk_keys) == 1 else list(chunk)
                    matched += await self._lock_existing(values)
                for keys, group in self._group_rows(list(by_key.values())).items():
                    await self._update_group(keys, group)
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

    def _group_rows(self, rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, ...], list[Mapping[str, Any]]]:
        """Group rows by their key set, checking each key set once."""
        groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
        fields = self.info.fields
        for row in rows:
            if not isinstance(row, Mapping):
                raise InvalidQueryError("bulk rows must be dicts of field values")
            keys = tuple(row)
            group = groups.get(keys)
            if group is None:
                for key in keys:
                    if key not in fields:
                        self.info.field(key)  # raises InvalidQueryError
                group = groups[keys] = []
            group.append(row)
        return groups

    async def _insert_group(
        self, table: Table, keys: tuple[str, ...], rows: list[Mapping[str, Any]]
    ) -> int:
        connection = await self.session.connection()
        dialect = connection.dialect
        if dialect.name == "postgresql" and dialect.driver == "asyncpg":
            return await self._copy_rows(connection, table, keys, rows)
        fields = self.info.fields
        params = [{fields[k].column.key: row[k] for k in keys} for row in rows]
        await connection.execute(insert(table), params)
        return len(rows)

    async def _copy_rows(
        self, connection: Any, table: Table, keys: tuple[str, ...], rows: list[Mapping[str, Any]]
    ) -> int:
        """Insert with COPY: apply Python defaults and bind processing, then send tuples."""
        dialect: Dialect = connection.dialect
        fields = self.info.fields
        given = [fields[k].column for k in keys]
        defaulted = [
            c for c in table.columns
            if c not in given and c.default is not None and not c.default.is_sequence
            and (c.default.is_scalar or c.default.is_callable)
        ]  # fmt: skip
        columns = given + defaulted
        processors = [c.type._cached_bind_processor(dialect) for c in columns]
        records: list[tuple[Any, ...]] = []
        for row in rows:
            values = [row[k] for k in keys]
            for column in defaulted:
                default = column.default
                assert default is not None
                values.append(default.arg(None) if default.is_callable else default.arg)  # type: ignore[attr-defined, operator]
            records.append(
                tuple(p(v) if p is not None and v is not None else v for p, v in zip(processors, values, strict=True))
            )
        raw = await connection.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(
            table.name,
            records=records,
            columns=[c.name for c in columns],
            schema_name=table.schema,
        )
        return len(records)

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

    async def _update_group(self, keys: tuple[str, ...], rows: list[Mapping[str, Any]]) -> None:
        table = self._table()
        fields = self.info.fields
        pk_keys = {f.key for f in self.info.primary_key}
        set_keys = [k for k in keys if k not in pk_keys]
        if not set_keys:
            return
        extra = self._onupdate_values(dict.fromkeys(set_keys))
        where = [fields[k].column == bindparam(f"pk_{k}") for k in pk_keys]
        values = {fields[k].column.key: bindparam(f"v_{k}") for k in set_keys}
        values.update({fields[k].column.key: v for k, v in extra.items()})
        stmt = update(table).where(*where, *self._scope_criteria()).values(values)
        params = [
            {**{f"pk_{k}": row[k] for k in pk_keys}, **{f"v_{k}": row[k] for k in set_keys}}
            for row in rows
        ]
        connection = await self.session.connection()
        await connection.execute(stmt, params)
        self._sync_held(rows, set_keys, extra)

    def _sync_held(
        self, rows: list[Mapping[str, Any]], keys: list[str], extra: Mapping[str, Any]
    ) -> None:
        """Write the new values into copies the session already holds."""
        pk = [f.key for f in self.info.primary_key]
        sync = self.session.sync_session
        for row in rows:
            key = identity_key(self.model, tuple(row[k] for k in pk))
            held = sync.identity_map.get(key)
            if held is None:
                continue
            for name in keys:
                set_committed_value(held, name, row[name])
            for name, value in extra.items():
                set_committed_value(held, name, value)
