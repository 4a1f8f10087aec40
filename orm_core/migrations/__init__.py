"""Alembic migrations: settings resolution, the generated environment, `MigrationManager`."""

from orm_core.migrations.manager import MigrationManager, RevisionInfo
from orm_core.migrations.settings import MigrationError

__all__ = ["MigrationError", "MigrationManager", "RevisionInfo"]
