"""Conduit's container: the ORM container plus its units of work, security and services."""

from __future__ import annotations

from dependency_injector import providers

from examples.realworld.security import Passwords, Tokens
from examples.realworld.services import (
    ArticleService,
    CommentService,
    ProfileService,
    TagService,
    UserService,
)
from examples.realworld.unit_of_work import RealWorldUnitOfWork
from orm_fastapi import OrmContainer


class RealWorldContainer(OrmContainer):
    unit_of_work = providers.Factory(RealWorldUnitOfWork, database=OrmContainer.database)
    # GETs read through units of work that never commit
    reader = providers.Factory(RealWorldUnitOfWork, database=OrmContainer.database, read_only=True)

    passwords = providers.Singleton(Passwords)
    tokens = providers.Singleton(Tokens, secret=OrmContainer.config.jwt_secret)

    # services get the factories themselves: each call opens a fresh unit of work
    users = providers.Factory(
        UserService, uow_factory=unit_of_work.provider, reader=reader.provider, passwords=passwords
    )
    profiles = providers.Factory(
        ProfileService, uow_factory=unit_of_work.provider, reader=reader.provider
    )
    articles = providers.Factory(
        ArticleService, uow_factory=unit_of_work.provider, reader=reader.provider
    )
    comments = providers.Factory(
        CommentService, uow_factory=unit_of_work.provider, reader=reader.provider
    )
    tags = providers.Factory(TagService, reader=reader.provider)
