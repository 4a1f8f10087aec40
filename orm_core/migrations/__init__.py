"""Alembic migrations: settings resolution, the generated environment, `MigrationManager`."""

from orm_core.migrations.errors import MigrationError
from orm_core.migrations.manager import MigrationManager, RevisionInfo

__all__ = ["MigrationError", "MigrationManager", "RevisionInfo"]
