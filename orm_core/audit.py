"""The audit trail: `AuditLog` rows written in the same transaction as the audited writes.

A model with `AuditMixin` gets one `orm_audit_log` row per affected entity for every
write, through every path: the action (`create`, `update`, `delete`, `soft_delete`,
`restore`), the changed fields with their old and new values (managed ones such as
`updated_at` and the version left out; columns declared `info={"redact": True}` recorded
as `"***"`), and the unit of work's actor and tenant.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from orm_core.fields import REDACTED, ModelInfo
from orm_core.models import Base
from orm_core.serialization import json_default
from orm_core.types import UTCDateTime, utcnow


class AuditLog(Base):
    """One audited write of one entity."""

    __tablename__ = "orm_audit_log"
    __table_args__ = (Index("ix_orm_audit_log_model_pk", "model", "pk", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(100))
    pk: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(20))
    changes: Mapped[dict[str, Any]]
    actor: Mapped[str | None] = mapped_column(String(255))
    tenant: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# the fields of an audit row the framework writes (`id` comes from the database)
AUDIT_FIELDS = ("model", "pk", "action", "changes", "actor", "tenant", "at")


def key_text(key: Any) -> str:
    """The `pk` column's text for a key: the value, or a JSON array for composite keys."""
    if type(key) is int:
        return int.__repr__(key)
    if isinstance(key, tuple):
        return json.dumps(list(key), default=json_default)
    return str(key)


def managed_fields(info: ModelInfo) -> frozenset[str]:
    """Fields the framework fills in itself, left out of audit changes."""
    managed = {key for key, field in info.fields.items() if field.onupdate is not None}
    if info.version is not None:
        managed.add(info.version.key)
    if "updated_at" in managed and "created_at" in info.fields:
        managed.add("created_at")
    return frozenset(managed)


@dataclass(frozen=True, slots=True)
class _Recorded:
    """Which fields of a model an audit row records, and which it shows as `***`."""

    skipped: frozenset[str]
    redacted: frozenset[str]


_RECORDED: dict[type, _Recorded] = {}


def _recorded(info: ModelInfo) -> _Recorded:
    found = _RECORDED.get(info.model)
    if found is None:
        redacted = frozenset(k for k, f in info.fields.items() if f.redact)
        found = _RECORDED[info.model] = _Recorded(managed_fields(info), redacted)
    return found


_NATIVE = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """`value` as JSON holds it: decimals and UUIDs as strings, dates in ISO 8601."""
    kind = type(value)
    if kind in _NATIVE:
        return value
    if kind is Decimal or kind is uuid.UUID:
        return str(value)
    if kind is datetime or kind is date:
        return value.isoformat()
    return json.loads(json.dumps(value, default=json_default))


def changes(
    info: ModelInfo, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> dict[str, Any]:
    """`{field: {"old": ..., "new": ...}}` for the fields a write changed, ready for JSON.

    An update records the fields it wrote (an unchanged value is left out); a delete,
    having no new values, records every old one.
    """
    recorded = _recorded(info)
    skipped, redacted, fields = recorded.skipped, recorded.redacted, info.fields
    if old is None and new is not None:  # a create: new values only
        return {
            key: {"new": REDACTED if key in redacted else jsonable(value)}
            for key, value in new.items()
            if key in fields and key not in skipped
        }
    found: dict[str, Any] = {}
    for key in new if new is not None else old or {}:
        if key in skipped or key not in fields:
            continue
        entry: dict[str, Any] = {}
        if old is not None and key in old:
            entry["old"] = jsonable(old[key])
        if new is not None and key in new:
            entry["new"] = jsonable(new[key])
        if "old" in entry and "new" in entry and entry["old"] == entry["new"]:
            continue
        if key in redacted:
            entry = {side: REDACTED for side in entry}
        found[key] = entry
    return found


def changes_json(
    info: ModelInfo, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> str:
    """`changes(info, old, new)` as JSON text; a create's is written without a dict."""
    if old is None and new is not None:
        recorded = _recorded(info)
        skipped, redacted, fields = recorded.skipped, recorded.redacted, info.fields
        parts = [
            f'{_quoted(key)}: {{"new": {_REDACTED_JSON if key in redacted else _json(value)}}}'
            for key, value in new.items()
            if key in fields and key not in skipped
        ]
        return "{" + ", ".join(parts) + "}"
    return json.dumps(changes(info, old, new))


_quoted = encode_basestring_ascii
_REDACTED_JSON = _quoted(REDACTED)


def _json(value: Any) -> str:
    """One value as JSON text, as `json.dumps(jsonable(value))` writes it."""
    kind = type(value)
    if kind is str:
        return _quoted(value)
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    if kind is Decimal or kind is uuid.UUID:
        return _quoted(str(value))
    return json.dumps(jsonable(value))


def audit_records(
    info: ModelInfo,
    action: str,
    entries: Sequence[tuple[Any, Mapping[str, Any] | None, Mapping[str, Any] | None]],
    *,
    actor: str | None,
    tenant: Any,
) -> list[tuple[Any, ...]]:
    """`audit_rows` as tuples in `AUDIT_FIELDS` order, `changes` as JSON text."""
    now = utcnow()
    tenant_text = tenant if isinstance(tenant, str) else None
    model = info.table_name
    own_tenant = info.tenant is not None
    created = _CreateTemplate.for_entries(info, entries)
    return [
        (
            model,
            key_text(key),
            action,
            created.render(new) if created is not None else changes_json(info, old, new),
            actor,
            (new or old or {}).get("tenant_id", tenant_text) if own_tenant else tenant_text,
            now,
        )
        for key, old, new in entries
    ]


@dataclass(frozen=True, slots=True)
class _CreateTemplate:
    """The `changes` JSON of creates that all hold the same fields, as one format string."""

    template: str
    keys: tuple[str, ...]

    @classmethod
    def for_entries(
        cls,
        info: ModelInfo,
        entries: Sequence[tuple[Any, Mapping[str, Any] | None, Mapping[str, Any] | None]],
    ) -> _CreateTemplate | None:
        if not entries or any(old is not None or new is None for _key, old, new in entries):
            return None
        first = entries[0][2]
        assert first is not None
        names = first.keys()
        if any(new.keys() != names for _key, _old, new in entries):  # type: ignore[union-attr]
            return None
        recorded = _recorded(info)
        keys = [k for k in names if k in info.fields and k not in recorded.skipped]
        parts = [
            f'{_quoted(k)}: {{"new": {_REDACTED_JSON if k in recorded.redacted else "%s"}}}'
            for k in keys
        ]
        template = "{" + ", ".join(p.replace("%", "%%") if "%s" not in p else p for p in parts)
        return cls(template + "}", tuple(k for k in keys if k not in recorded.redacted))

    def render(self, new: Mapping[str, Any] | None) -> str:
        assert new is not None
        return self.template % tuple([_json(new[k]) for k in self.keys])


def audit_rows(
    info: ModelInfo,
    action: str,
    entries: Iterable[tuple[Any, Mapping[str, Any] | None, Mapping[str, Any] | None]],
    *,
    actor: str | None,
    tenant: Any,
) -> list[dict[str, Any]]:
    """The `orm_audit_log` rows for `(key, old, new)` entries of one write."""
    now = utcnow()
    tenant_text = tenant if isinstance(tenant, str) else None
    return [
        {
            "model": info.table_name,
            "pk": key_text(key),
            "action": action,
            "changes": changes(info, old, new),
            "actor": actor,
            "tenant": tenant_text
            if info.tenant is None
            else (new or old or {}).get("tenant_id", tenant_text),
            "at": now,
        }
        for key, old, new in entries
    ]
