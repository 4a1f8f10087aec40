"""Conduit's tables: users who follow each other, articles with tags and favorites, comments.

Many-to-many pairs live in association tables keyed by the pair, so a pair is stored
once; every foreign key cascades in the database, so deleting an article takes its
comments, favorites and tag links with it.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, MetaData, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orm_core import NAMING_CONVENTION, Base, TimestampMixin


class RealWorldBase(Base):
    """Conduit's own metadata, so its tables never mix with another application's."""

    __abstract__ = True
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _pair(name: str, left: tuple[str, str], right: tuple[str, str]) -> Table:
    """An association table keyed by the pair, with an index for lookups from the right."""
    (left_column, left_target), (right_column, right_target) = left, right
    return Table(
        name,
        RealWorldBase.metadata,
        Column(left_column, ForeignKey(left_target, ondelete="CASCADE"), primary_key=True),
        Column(
            right_column, ForeignKey(right_target, ondelete="CASCADE"), primary_key=True, index=True
        ),
    )


follows = _pair("follows", ("follower_id", "users.id"), ("followed_id", "users.id"))
favorites = _pair("favorites", ("user_id", "users.id"), ("article_id", "articles.id"))
article_tags = _pair("article_tags", ("article_id", "articles.id"), ("tag_id", "tags.id"))


class User(TimestampMixin, RealWorldBase):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    bio: Mapped[str] = mapped_column(Text, default="")
    image: Mapped[str | None] = mapped_column(String(1000))

    following: Mapped[list[User]] = relationship(
        secondary=follows,
        primaryjoin=lambda: User.id == follows.c.follower_id,
        secondaryjoin=lambda: User.id == follows.c.followed_id,
        back_populates="followers",
    )
    followers: Mapped[list[User]] = relationship(
        secondary=follows,
        primaryjoin=lambda: User.id == follows.c.followed_id,
        secondaryjoin=lambda: User.id == follows.c.follower_id,
        back_populates="following",
    )
    favorites: Mapped[list[Article]] = relationship(
        secondary=favorites, back_populates="favorited_by"
    )


class Tag(RealWorldBase):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)

    articles: Mapped[list[Article]] = relationship(secondary=article_tags, back_populates="tags")


class Article(TimestampMixin, RealWorldBase):
    __tablename__ = "articles"
    # lists are newest first
    __table_args__ = (Index("ix_articles_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(255), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # a stored counter, moved by what link/unlink of `favorited_by` reported
    favorites_count: Mapped[int] = mapped_column(default=0)

    author: Mapped[User] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary=article_tags, back_populates="articles")
    favorited_by: Mapped[list[User]] = relationship(secondary=favorites, back_populates="favorites")
    comments: Mapped[list[Comment]] = relationship(back_populates="article", passive_deletes=True)


class Comment(TimestampMixin, RealWorldBase):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)

    article: Mapped[Article] = relationship(back_populates="comments")
    author: Mapped[User] = relationship()
