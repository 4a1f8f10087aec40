"""The declarative base, its type map, and the column mixins.

Models stay plain: they declare columns and relationships, never queries. A
relationship of a `Base` model never loads on access (see `orm_core.relationships`).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import JSON, MetaData, Numeric, String, Uuid
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from orm_core.constraints import declare_check_constraints
from orm_core.relationships import raise_when_not_loaded
from orm_core.types import UTCDateTime, utcnow

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with stable constraint names and a portable type map."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        Decimal: Numeric(12, 2),
        uuid.UUID: Uuid(),
        # JSONB on PostgreSQL: indexable, and the JSON lookups' operators need it
        dict: JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql"),
        dict[str, Any]: JSON(none_as_null=True).with_variant(
            JSONB(none_as_null=True), "postgresql"
        ),
        datetime: UTCDateTime(),
        enum.Enum: SAEnum(enum.Enum, native_enum=False, length=50),
    }


raise_when_not_loaded(Base)
declare_check_constraints(Base)


class TimestampMixin:
    """Add `created_at` and `updated_at`, set from Python in UTC.

    Python-side defaults keep the values on the object after a flush (no expired
    attribute to lazy-load) and give microsecond resolution on every database.
    """

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class SoftDeleteMixin:
    """Add `deleted_at`; repositories hide rows where it is set."""

    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)


class TenantMixin:
    """Add `tenant_id`; a unit of work with a tenant sees and writes only that tenant's rows."""

    tenant_id: Mapped[str] = mapped_column(String(64), index=True)


class AuditMixin:
    """Give a model an audit trail: every write adds `AuditLog` rows in the same transaction."""


class VersionMixin:
    """Add a `version` counter used by SQLAlchemy as the optimistic-lock column."""

    version: Mapped[int] = mapped_column(default=1, nullable=False)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]
