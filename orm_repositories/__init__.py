"""Generic async repositories over SQLAlchemy models."""

from orm_core.registry import register_generic_repository
from orm_repositories._loading import Load, loader_options
from orm_repositories.repository import AsyncRepository

register_generic_repository(AsyncRepository)

__all__ = ["AsyncRepository", "Load", "loader_options"]
