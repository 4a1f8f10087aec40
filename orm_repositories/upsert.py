"""Upserts: insert a row, or update the row holding the same unique key, in one statement.

PostgreSQL and SQLite use `INSERT … ON CONFLICT (…) DO UPDATE … RETURNING *`;
MySQL and MariaDB use `INSERT … ON DUPLICATE KEY UPDATE` and re-read the row by
its conflict fields. `upsert_many` runs the single-row statement with a list of
parameter sets (the driver's executemany): it compiles once, where a multi-VALUES
statement of thousands of rows costs more to compile than to execute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Index,
    Integer,
    Table,
    UniqueConstraint,
    inspect,
    literal_column,
    select,
)
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from orm_core.errors import InvalidQueryError, OrmError
from orm_core.translate import translate
from orm_repositories.base import ModelT
from orm_repositories.batch_sql import plan_batch
from orm_repositories.conditional import ConditionalUpdateMixin

# Rows handed to one executemany call: bounds memory, not bind parameters.
UPSERT_BATCH_SIZE = 5_000

Assignments = Callable[[Any], dict[Any, Any]]


@dataclass(frozen=True, slots=True)
class _UpsertDialect:
    """How one dialect spells an upsert, and whether it can return the row."""

    insert: Callable[[Any], Any]
    on_conflict: Callable[[Any, list[Any], Assignments], Any]
    returning: bool


def _on_conflict(stmt: Any, conflict: list[Any], assignments: Assignments) -> Any:
    return stmt.on_conflict_do_update(index_elements=conflict, set_=assignments(stmt.excluded))


def _on_duplicate_key(stmt: Any, conflict: list[Any], assignments: Assignments) -> Any:
    # MySQL applies the update on any unique key; `conflict` only selects the row to re-read.
    return stmt.on_duplicate_key_update(assignments(stmt.inserted))


_DIALECTS: dict[str, _UpsertDialect] = {
    "postgresql": _UpsertDialect(postgresql_insert, _on_conflict, returning=True),
    "sqlite": _UpsertDialect(sqlite_insert, _on_conflict, returning=True),
    "mysql": _UpsertDialect(mysql_insert, _on_duplicate_key, returning=False),
    "mariadb": _UpsertDialect(mysql_insert, _on_duplicate_key, returning=False),
}


class UpsertMixin(ConditionalUpdateMixin[ModelT]):
    """`upsert` and `upsert_many` on the database's native upsert statement."""

    async def upsert(
        self,
        *,
        conflict_fields: Sequence[str] | str,
        update_fields: Sequence[str] | None = None,
        **values: Any,
    ) -> ModelT:
        """Insert a row, or update the existing row with the same `conflict_fields`.

        `update_fields=None` updates every given field outside `conflict_fields`; on
        the update path `updated_at` is refreshed and a `VersionMixin` version bumped.
        Returns the entity holding the stored values (a copy held by the session is
        refreshed). `conflict_fields` must name a primary key or unique constraint.

        Raises:
            InvalidQueryError: unknown field, a conflict field without a value, or a bad value.
            DuplicateError: the row clashed on a different unique key.
        """
        checked = self._checked_values(values)
        conflict, chosen = self._upsert_plan(conflict_fields, update_fields, [tuple(checked)])
        updates = _updates_for(tuple(checked), conflict, chosen, self._pk_keys())
        spec = self._upsert_dialect()
        stmt = self._upsert_statement(spec, self.model, conflict, updates).values(
            {self.info.fields[k].attribute: v for k, v in checked.items()}
        )
        if spec.returning:
            returning = stmt.returning(self.model).execution_options(populate_existing=True)
            entity = await self._first_by(returning)
        else:
            await self._execute(stmt)
            criteria = [self.info.fields[k].attribute == checked[k] for k in conflict]
            reread = select(self.model).where(*criteria).execution_options(populate_existing=True)
            entity = await self._first_by(reread)
        if entity is None:  # pragma: no cover - the row was just written in this transaction
            raise InvalidQueryError("the upserted row could not be read back")
        return entity

    async def upsert_many(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        conflict_fields: Sequence[str] | str,
        update_fields: Sequence[str] | None = None,
    ) -> int:
        """Upsert many rows with one statement per batch; return the rows inserted or updated.

        A key repeated in one call counts once: its last row wins. Rows may leave out
        different fields; each key set is sent as its own batch. Copies of affected
        rows held by the session are refreshed.

        Raises:
            InvalidQueryError: unknown field, a row without its conflict fields, or a bad value.
            DuplicateError: a row clashed on a different unique key (nothing of the call is kept).
        """
        if isinstance(rows, Mapping | str | bytes) or not isinstance(rows, Iterable):
            raise InvalidQueryError("upsert_many takes an iterable of dicts")
        names = self._conflict_names(conflict_fields)
        collapsed = self._collapsed_rows(rows, names)
        if not collapsed:
            return 0
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for checked in collapsed.values():
            groups.setdefault(tuple(checked), []).append(checked)
        conflict, chosen = self._upsert_plan(conflict_fields, update_fields, list(groups))
        spec = self._upsert_dialect()
        table = self._upsert_table()
        fields = self.info.fields
        try:
            async with self.session.begin_nested():
                connection = await self.session.connection()
                for keys, group in groups.items():
                    updates = _updates_for(keys, conflict, chosen, self._pk_keys())
                    stmt = self._upsert_statement(spec, table, conflict, updates)
                    columns = [fields[k].column.key for k in keys]
                    if columns != list(keys):
                        group = [dict(zip(columns, row.values(), strict=True)) for row in group]
                    plan = plan_batch(
                        stmt, table, connection.dialect, columns, (tuple(conflict), tuple(updates))
                    )
                    for start in range(0, len(group), UPSERT_BATCH_SIZE):
                        batch = group[start : start + UPSERT_BATCH_SIZE]
                        if plan is None:
                            await connection.execute(stmt, batch)
                        else:
                            await connection.exec_driver_sql(plan.sql, plan.parameters(batch))
        except OrmError:
            raise
        except Exception as exc:
            raise translate(exc) from exc
        await self._refresh_upserted(conflict, list(collapsed))
        return len(collapsed)

    # -- helpers ------------------------------------------------------------------

    def _collapsed_rows(
        self, rows: Iterable[Mapping[str, Any]], names: list[str]
    ) -> dict[tuple[Any, ...], dict[str, Any]]:
        """Check every row's fields and values; keep the last row of each conflict key."""
        collapsed: dict[tuple[Any, ...], dict[str, Any]] = {}
        checkers: dict[tuple[str, ...], list[tuple[str, Any]]] = {}
        for row in rows:
            if not isinstance(row, Mapping):
                raise InvalidQueryError("upsert_many rows must be dicts of field values")
            keys = tuple(row)
            plan = checkers.get(keys)
            if plan is None:
                missing = [k for k in names if k not in row]
                if missing:
                    raise InvalidQueryError(
                        f"every upsert row needs its conflict fields; missing {missing}"
                    )
                plan = checkers[keys] = [(k, self.info.field(k).check) for k in keys]
            checked = {k: None if (v := row[k]) is None else check(v) for k, check in plan}
            collapsed[tuple([checked[k] for k in names])] = checked
        return collapsed

    def _upsert_dialect(self) -> _UpsertDialect:
        name = self.session.get_bind().dialect.name
        spec = _DIALECTS.get(name)
        if spec is None:
            raise InvalidQueryError(f"upsert is not supported on {name!r}")
        return spec

    def _upsert_plan(
        self, conflict_fields: Any, update_fields: Any, key_sets: Sequence[tuple[str, ...]]
    ) -> tuple[list[str], list[str] | None]:
        """Check conflict and update fields against the given key sets, before any SQL.

        Returns the conflict fields and the explicit update fields (None: every given one).
        """
        conflict = self._conflict_names(conflict_fields)
        given = set().union(*key_sets)
        missing = [k for k in conflict if k not in given]
        if missing:
            raise InvalidQueryError(f"conflict fields need values: {missing}", {"missing": missing})
        chosen: list[str] | None = None
        if update_fields is not None:
            chosen = _field_names(update_fields, allow_empty=True)
            for name in chosen:
                self.info.field(name)
            changing_key = [k for k in chosen if k in self._pk_keys() and k not in conflict]
            if changing_key:
                raise InvalidQueryError(f"the primary key {changing_key} cannot be updated")
            absent = [k for k in chosen if k not in given]
            if absent:
                raise InvalidQueryError(
                    f"update_fields must be among the given values: {absent}", {"missing": absent}
                )
        version = self._version_key()
        if version is not None and version in (chosen if chosen is not None else given):
            raise InvalidQueryError(f"{version!r} is managed by optimistic locking; do not set it")
        return conflict, chosen

    def _upsert_table(self) -> Table:
        table = self.model.__table__
        if not isinstance(table, Table):
            raise InvalidQueryError(f"{self.model.__name__} is not mapped to a single table")
        return table

    def _pk_keys(self) -> set[str]:
        return {f.key for f in self.info.primary_key}

    def _conflict_names(self, conflict_fields: Any) -> list[str]:
        """Check that the conflict fields are exactly a primary key or unique constraint."""
        conflict = _field_names(conflict_fields)
        for name in conflict:
            self.info.field(name)
        table = self._upsert_table()
        wanted = {self.info.fields[k].column.name for k in conflict}
        keys = [{c.name for c in table.primary_key.columns}]
        for item in (*table.constraints, *table.indexes):
            if isinstance(item, UniqueConstraint) or (isinstance(item, Index) and item.unique):
                keys.append({c.name for c in item.columns})
        if wanted not in keys:
            raise InvalidQueryError(
                f"conflict_fields {conflict} are not a primary key or unique constraint "
                f"of {self.model.__name__}",
                {"conflict_fields": conflict, "unique_keys": sorted(sorted(k) for k in keys)},
            )
        return conflict

    def _upsert_statement(
        self, spec: _UpsertDialect, target: Any, conflict: list[str], updates: list[str]
    ) -> Any:
        fields = self.info.fields
        conflict_columns = [fields[k].column for k in conflict]
        extra = self._onupdate_values(dict.fromkeys(updates)) if updates else {}
        version = self._version_key()

        def assignments(proposed: Any) -> dict[Any, Any]:
            if not updates:  # nothing to change: a no-op assignment still returns the row
                return {conflict_columns[0]: proposed[conflict_columns[0].key]}
            values: dict[Any, Any] = {
                fields[k].column: proposed[fields[k].column.key] for k in updates
            }
            for key, value in extra.items():
                column = fields[key].column
                # `updated_at` is in the proposed row (its insert default is "now" too):
                # referring to it keeps bound values out of the update clause, which
                # MySQL drivers need to batch an executemany into one statement.
                values[column] = proposed[column.key] if _same_default(column) else value
            if version is not None:
                column = fields[version].column
                values[column] = column + literal_column("1", Integer())
            return values

        return spec.on_conflict(spec.insert(target), conflict_columns, assignments)

    async def _refresh_upserted(self, conflict: list[str], keys: list[tuple[Any, ...]]) -> None:
        """Reload copies of upserted rows that the session already holds."""
        identity_map = self.session.sync_session.identity_map
        held = [obj for obj in identity_map.values() if isinstance(obj, self.model)]
        if not held:
            return
        wanted = set(keys)
        states = [inspect(obj).dict for obj in held]
        pks = [
            self._pk_of_values(state)
            for state in states
            if all(k in state for k in conflict) and tuple(state[k] for k in conflict) in wanted
        ]
        for chunk in self._chunks(pks):
            stmt = select(self.model).where(self._pk_in(chunk))
            await self._all(stmt.execution_options(populate_existing=True))


def _same_default(column: Column[Any]) -> bool:
    """Tell whether the column's insert default is its update default (such as `utcnow`)."""
    if column.default is None or column.onupdate is None:
        return False
    insert_arg = getattr(column.default, "arg", None)
    update_arg = getattr(column.onupdate, "arg", None)
    # SQLAlchemy wraps a callable that takes no context; compare what was declared
    declared = [getattr(arg, "__wrapped__", arg) for arg in (insert_arg, update_arg)]
    return declared[0] is declared[1]


def _updates_for(
    keys: tuple[str, ...], conflict: list[str], chosen: list[str] | None, primary_key: set[str]
) -> list[str]:
    """The fields a row with `keys` updates: the chosen ones it carries, else all it carries.

    The primary key is never changed by the update path.
    """
    names = keys if chosen is None else [k for k in chosen if k in keys]
    return [k for k in names if k not in conflict and k not in primary_key]


def _field_names(value: Any, *, allow_empty: bool = False) -> list[str]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, Sequence) or not all(isinstance(n, str) for n in names):
        raise InvalidQueryError("field lists must be field names (a string or a list of strings)")
    if not names and not allow_empty:
        raise InvalidQueryError("conflict_fields must name at least one field")
    return list(dict.fromkeys(names))
