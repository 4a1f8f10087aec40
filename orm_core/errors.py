"""Errors raised by repositories and units of work.

Every error derives from `OrmError`; driver and SQLAlchemy exceptions are
translated at one point (`orm_core.translate.translating`) so none reaches the caller raw.

    OrmError
    ├── NotFoundError (LookupError)
    ├── DuplicateError
    ├── ConstraintError
    ├── ConcurrentModificationError
    ├── LockNotAvailableError
    ├── InvalidQueryError (ValueError)
    ├── TransactionError
    ├── TransactionConflictError
    ├── CommitUnknownError
    ├── RelationshipNotLoadedError
    ├── TenantRequiredError
    └── DatabaseError
        ├── DatabaseUnavailableError
        └── QueryTimeoutError
"""

from __future__ import annotations

from typing import Any


class OrmError(Exception):
    """Base class of every error this framework raises."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, details={self.details!r})"


class NotFoundError(OrmError, LookupError):
    """A method that needs a row found none."""


class DuplicateError(OrmError):
    """A unique constraint or primary key was violated."""


class ConstraintError(OrmError):
    """An integrity constraint other than uniqueness was violated."""


class ConcurrentModificationError(OrmError):
    """An optimistic-lock version check failed: someone else changed the row."""


class LockNotAvailableError(OrmError):
    """A row lock requested with `nowait=True` is held by another transaction."""


class InvalidQueryError(OrmError, ValueError):
    """A query or value is malformed: unknown field, operator, ordering, or bad value."""


class TransactionError(OrmError):
    """A unit of work was misused (entered twice, used outside its block)."""


class TransactionConflictError(OrmError):
    """The database aborted the transaction over a concurrency conflict; retry the unit."""


class CommitUnknownError(OrmError):
    """The connection was lost during COMMIT, so whether it took effect is unknown."""


class DatabaseError(OrmError):
    """Any other database failure."""


class DatabaseUnavailableError(DatabaseError):
    """The database cannot be reached, or no pooled connection was free in time."""


class QueryTimeoutError(DatabaseError):
    """A statement outran the statement timeout, or waited for a lock past the lock timeout."""


class RelationshipNotLoadedError(OrmError):
    """A relationship that was not loaded was touched; load it with `load=` on the read."""


class TenantRequiredError(OrmError):
    """A tenant model was used without a tenant (a unit of work without one, or a bare session)."""
