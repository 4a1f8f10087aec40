"""Generic async repositories over SQLAlchemy models."""

from orm_core.repository_specs import set_default_repository_class
from orm_repositories.repository import AsyncRepository

set_default_repository_class(AsyncRepository)

__all__ = ["AsyncRepository"]
