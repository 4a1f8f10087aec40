"""Conduit's unit of work: its repositories, built per session."""

from __future__ import annotations

from examples.realworld.repositories import (
    ArticleRepository,
    CommentRepository,
    TagRepository,
    UserRepository,
)
from orm_core import UnitOfWork


class RealWorldUnitOfWork(UnitOfWork):
    users: UserRepository
    articles: ArticleRepository
    tags: TagRepository
    comments: CommentRepository
