"""Core of the framework: models, database, unit of work, errors, lookups, pages."""

from orm_core.database import Database
from orm_core.errors import (
    CommitUnknownError,
    ConcurrentModificationError,
    ConstraintError,
    DatabaseError,
    DatabaseUnavailableError,
    DuplicateError,
    InvalidQueryError,
    LockNotAvailableError,
    NotFoundError,
    OrmError,
    TransactionConflictError,
    TransactionError,
)
from orm_core.fields import FieldInfo, ModelInfo, model_info
from orm_core.lookups import OPERATORS
from orm_core.models import NAMING_CONVENTION, Base, SoftDeleteMixin, TimestampMixin, VersionMixin
from orm_core.pagination import CursorPage, Page
from orm_core.retry import retry_transaction
from orm_core.schemas import schema_for
from orm_core.serialization import changed_fields, diff, to_dict, to_json
from orm_core.types import UTCDateTime, utcnow
from orm_core.unit_of_work import UnitOfWork

__all__ = [
    "NAMING_CONVENTION",
    "OPERATORS",
    "Base",
    "CommitUnknownError",
    "ConcurrentModificationError",
    "ConstraintError",
    "CursorPage",
    "Database",
    "DatabaseError",
    "DatabaseUnavailableError",
    "DuplicateError",
    "FieldInfo",
    "InvalidQueryError",
    "LockNotAvailableError",
    "ModelInfo",
    "NotFoundError",
    "OrmError",
    "Page",
    "SoftDeleteMixin",
    "TimestampMixin",
    "TransactionConflictError",
    "TransactionError",
    "UTCDateTime",
    "UnitOfWork",
    "VersionMixin",
    "changed_fields",
    "diff",
    "model_info",
    "retry_transaction",
    "schema_for",
    "to_dict",
    "to_json",
    "utcnow",
]
