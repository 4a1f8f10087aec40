"""The one place where writes are reported: write events and audit rows.

Every write path asks `wanted()` first (nothing to compute when nobody listens and the
model is not audited), fires `before()` with what it was asked to write, and after its
statement calls `after()` with the changes it made: `(key, old values, new values)` per
affected row. `after()` fires the `after_*` event and adds the audit rows, in the
transaction of the write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, insert, inspect, select

from orm_core.audit import AuditLog, audit_rows
from orm_core.events import fire, listening
from orm_core.fields import ModelInfo
from orm_core.session import context_of, record_write
from orm_core.translate import translating
from orm_repositories._keys import pk_of_values
from orm_repositories._select import scope_criteria
from orm_repositories._target import Target, execute

Change = tuple[Any, Mapping[str, Any] | None, Mapping[str, Any] | None]
_AUDIT_TABLE: Table = AuditLog.__table__  # type: ignore[assignment]


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
        trail = audit_rows(
            target.info, action or kind, changes, actor=context.actor, tenant=context.tenant
        )
        record_write(target.session, _AUDIT_TABLE)
        with translating():
            connection = await target.session.connection()
            await connection.execute(insert(_AUDIT_TABLE), trail)


def _event_rows(target: Target, kind: str, changes: Sequence[Change]) -> list[dict[str, Any]]:
    """After-event rows: creates the stored values, updates the key and new values, deletes
    the key."""
    rows = []
    for key, _old, new in changes:
        keyed = key_fields(target.info, key)
        if kind == "delete":
            rows.append(keyed)
        else:
            rows.append({**(new or {}), **keyed})
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
