"""Core of the framework: models, database, unit of work, errors, lookups, pages."""

from orm_core.audit import AuditLog
from orm_core.batches import BatchReport, process_in_batches
from orm_core.caching.base import Cache
from orm_core.caching.decorator import cached
from orm_core.caching.hybrid import HybridCache
from orm_core.caching.memory import MemoryCache
from orm_core.caching.redis_cache import RedisCache
from orm_core.circuit_breaker import CircuitBreaker
from orm_core.consistency import consistency_scope
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
    QueryTimeoutError,
    RelationshipNotLoadedError,
    TenantRequiredError,
    TransactionConflictError,
    TransactionError,
)
from orm_core.events import WriteEvent, off, on
from orm_core.fields import FieldInfo, ModelInfo, model_info
from orm_core.idempotency import (
    IdempotencyRecord,
    IdempotentRequest,
    StoredAnswer,
    StoredAnswerError,
    idempotency_scope,
)
from orm_core.lookups import OPERATORS, LookupPath, parse_lookup
from orm_core.models import (
    NAMING_CONVENTION,
    AuditMixin,
    Base,
    SoftDeleteMixin,
    TenantMixin,
    TimestampMixin,
    VersionMixin,
)
from orm_core.monitor import QueryMonitor, SlowQuery
from orm_core.ordering import Ordering, build_order_by
from orm_core.outbox import OutboxMessage
from orm_core.outbox_relay import relay_outbox
from orm_core.pagination import CursorPage, Page
from orm_core.pool_monitor import PoolMonitor
from orm_core.retry import retry_transaction
from orm_core.schemas import schema_for
from orm_core.search import Highlight, create_search_tables, drop_search_tables, search_vector
from orm_core.serialization import changed_fields, diff, to_dict, to_json
from orm_core.tenancy import ALL_TENANTS
from orm_core.tracing import instrument
from orm_core.transactional import transactional
from orm_core.types import UTCDateTime, utcnow
from orm_core.unit_of_work import UnitOfWork

__all__ = [
    "ALL_TENANTS",
    "NAMING_CONVENTION",
    "OPERATORS",
    "AuditLog",
    "AuditMixin",
    "Base",
    "BatchReport",
    "Cache",
    "CircuitBreaker",
    "CommitUnknownError",
    "ConcurrentModificationError",
    "ConstraintError",
    "CursorPage",
    "Database",
    "DatabaseError",
    "DatabaseUnavailableError",
    "DuplicateError",
    "FieldInfo",
    "Highlight",
    "HybridCache",
    "IdempotencyRecord",
    "IdempotentRequest",
    "InvalidQueryError",
    "LockNotAvailableError",
    "LookupPath",
    "MemoryCache",
    "ModelInfo",
    "NotFoundError",
    "Ordering",
    "OrmError",
    "OutboxMessage",
    "Page",
    "PoolMonitor",
    "QueryMonitor",
    "QueryTimeoutError",
    "RedisCache",
    "RelationshipNotLoadedError",
    "SlowQuery",
    "SoftDeleteMixin",
    "StoredAnswer",
    "StoredAnswerError",
    "TenantMixin",
    "TenantRequiredError",
    "TimestampMixin",
    "TransactionConflictError",
    "TransactionError",
    "UTCDateTime",
    "UnitOfWork",
    "VersionMixin",
    "WriteEvent",
    "build_order_by",
    "cached",
    "changed_fields",
    "consistency_scope",
    "create_search_tables",
    "diff",
    "drop_search_tables",
    "idempotency_scope",
    "instrument",
    "model_info",
    "off",
    "on",
    "parse_lookup",
    "process_in_batches",
    "relay_outbox",
    "retry_transaction",
    "schema_for",
    "search_vector",
    "to_dict",
    "to_json",
    "transactional",
    "utcnow",
]
