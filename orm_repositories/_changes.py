"""The one place where writes are reported: write events and audit rows.

Every write path asks `wanted()` first (nothing to compute when nobody listens and the
model is not audited), fires `before()` with what it was asked to write, and after its
statement calls `after()` with the changes it made: `(key, old values, new values)` per
affected row. `after()` fires the `after_*` event and adds the audit rows, in the
transaction of the write.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, insert, inspect, select
from sqlalchemy.ext.asyncio import AsyncConnection

from orm_core.audit import AUDIT_FIELDS, AuditLog, audit_records
from orm_core.events import fire, listening
from orm_core.fields import ModelInfo
from orm_core.session import context_of, record_write
from orm_core.translate import translating
from orm_repositories._keys import pk_of_values
from orm_repositories._select import scope_criteria
from orm_repositories._send import translated
from orm_repositories._target import Target, execute

Change = tuple[Any, Mapping[str, Any] | None, Mapping[str, Any] | None]
_AUDIT_TABLE: Table = AuditLog.__table__  # type: ignore[assignment]
_AUDIT_INSERT = insert(_AUDIT_TABLE)


@dataclass(frozen=True, slots=True)
class Wanted:
    """What a write must report: before and after events, and audit rows."""

    before: bool
    after: bool
    audit: bool

    @property
    def any(self) -> bool:
        return self.before or self.after or self.audit

    @property
    def changes(self) -> bool:
        """Whether the changed rows themselves are needed (after events or audit)."""
        return self.after or self.audit


NOTHING = Wanted(False, False, False)


def wanted(target: Target, kind: str) -> Wanted:
    """What a `create`, `update` or `delete` of the target's model must report."""
    model = target.model
    after_it = listening(f"after_{kind}", model) or listening("after_commit", model)
    return Wanted(listening(f"before_{kind}", model), after_it, target.info.audited)


async def before(target: Target, kind: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Fire `before_<kind>` with what the call was asked to write (a handler may veto)."""
    if listening(f"before_{kind}", target.model):
        await fire(f"before_{kind}", target.model, target.session, [dict(r) for r in rows])


async def after(
    target: Target,
    kind: str,
    changes: Sequence[Change],
    *,
    action: str | None = None,
    audit: bool = True,
) -> None:
    """Fire `after_<kind>` for the rows a write changed and add their audit rows.

    `audit=False`: no audit rows (a link writes association rows, not the model's).
    """
    if not changes:
        return
    model = target.model
    if listening(f"after_{kind}", model) or listening("after_commit", model):
        rows = _event_rows(target, kind, changes)
        await fire(f"after_{kind}", model, target.session, rows)
    if audit and target.info.audited:
        context = context_of(target.session)
        records = audit_records(
            target.info, action or kind, changes, actor=context.actor, tenant=context.tenant
        )
        record_write(target.session, _AUDIT_TABLE)
        with translating():
            connection = await target.session.connection()
            await _send_audit(target, connection, records)


async def _send_audit(
    target: Target, connection: AsyncConnection, records: list[tuple[Any, ...]]
) -> None:
    """Insert audit rows (`changes` already JSON text): COPY on PostgreSQL, else executemany."""
    backend = target.backend
    schema_map = translated(connection)
    if backend.copy:
        schema = schema_map.get(None)
        await backend.copy_records(connection, _AUDIT_TABLE, AUDIT_FIELDS, records, schema)
        return
    at = _AUDIT_TABLE.c.at.type._cached_bind_processor(connection.dialect)
    if at is not None and records:
        stamp = at(records[0][-1])  # one time for every row of a write
        records = [(*record[:-1], stamp) for record in records]
    if backend.name == "sqlite" and not schema_map:
        columns = ", ".join(AUDIT_FIELDS)
        sql = f"INSERT INTO {_AUDIT_TABLE.name} ({columns}) VALUES ({', '.join('?' * 7)})"
        await connection.exec_driver_sql(sql, records)
        return
    rows = [dict(zip(AUDIT_FIELDS, record, strict=True)) for record in records]
    for row in rows:
        row["changes"] = json.loads(row["changes"])
    await connection.execute(_AUDIT_INSERT, rows)


def _event_rows(target: Target, kind: str, changes: Sequence[Change]) -> list[dict[str, Any]]:
    """After-event rows: creates the stored values, updates the key and new values, deletes
    the key."""
    info = target.info
    if kind == "delete":
        return [key_fields(info, key) for key, _old, _new in changes]
    single = info.primary_key[0].key if len(info.primary_key) == 1 else None
    rows = []
    for key, _old, new in changes:
        if single is not None and new is not None and single in new:
            rows.append(dict(new))  # a copy: handlers may change it, the audit row may not
        else:
            rows.append({**(new or {}), **key_fields(info, key)})
    return rows


async def locked_rows(
    target: Target, conditions: Sequence[Any], *, columns: bool, lock: bool = True
) -> dict[Any, dict[str, Any]]:
    """The rows a write is about to change, locked as the write would lock them, by key.

    With `columns`, every column's current value (the audit trail's old values, read
    under the lock so no other transaction can change them before the write); else
    just the keys.
    """
    info = target.info
    fields = list(info.fields.values()) if columns else list(info.primary_key)
    statement = select(*(f.attribute for f in fields)).where(*scope_criteria(target), *conditions)
    statement = statement.order_by(*(f.attribute for f in info.primary_key))  # no deadlock
    if lock:
        statement = target.backend.lock(statement, nowait=False, skip_locked=False)
    found: dict[Any, dict[str, Any]] = {}
    for row in (await execute(target, statement)).all():
        values = dict(zip((f.key for f in fields), row, strict=True))
        found[pk_of_values(info, values)] = values
    return found


def key_fields(info: ModelInfo, key: Any) -> dict[str, Any]:
    """A key as `{field: value}`."""
    names = [f.key for f in info.primary_key]
    return dict(zip(names, key if isinstance(key, tuple) else (key,), strict=True))


def stored(info: ModelInfo, entity: Any, keys: Iterable[str] | None = None) -> dict[str, Any]:
    """The loaded column values of an entity (only `keys` when given)."""
    loaded = inspect(entity).dict
    wanted_keys = info.fields if keys is None else keys
    return {k: loaded[k] for k in wanted_keys if k in loaded}
