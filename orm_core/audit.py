"""The audit trail: `AuditLog` rows written in the same transaction as the audited writes.

A model with `AuditMixin` gets one `orm_audit_log` row per affected entity for every
write, through every path: the action (`create`, `update`, `delete`, `soft_delete`,
`restore`), the changed fields with their old and new values (managed ones such as
`updated_at` and the version left out; columns declared `info={"redact": True}` recorded
as `"***"`), and the unit of work's actor and tenant.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
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


def key_text(key: Any) -> str:
    """The `pk` column's text for a key: the value, or a JSON array for composite keys."""
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


def changes(
    info: ModelInfo, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> dict[str, Any]:
    """`{field: {"old": ..., "new": ...}}` for the fields a write changed, ready for JSON.

    An update records the fields it wrote (an unchanged value is left out); a delete,
    having no new values, records every old one.
    """
    skipped = managed_fields(info)
    found: dict[str, Any] = {}
    for key in new if new is not None else old or {}:
        if key in skipped or key not in info.fields:
            continue
        entry: dict[str, Any] = {}
        if old is not None and key in old:
            entry["old"] = old[key]
        if new is not None and key in new:
            entry["new"] = new[key]
        if "old" in entry and "new" in entry and entry["old"] == entry["new"]:
            continue
        if info.fields[key].redact:
            entry = {side: REDACTED for side in entry}
        found[key] = entry
    return json.loads(json.dumps(found, default=json_default))  # type: ignore[no-any-return]


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
            "tenant": tenant_text if info.tenant is None else (new or old or {}).get(
                "tenant_id", tenant_text
            ),
            "at": now,
        }
        for key, old, new in entries
    ]
