"""Models shared by the tests (plain declarative classes, no behaviour)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Column, ForeignKey, String, Table, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orm_core import (
    AuditMixin,
    Base,
    SoftDeleteMixin,
    TenantMixin,
    TimestampMixin,
    VersionMixin,
    search_vector,
)


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Product(TimestampMixin, Base):
    __tablename__ = "products"
    __table_args__ = (CheckConstraint("stock >= 0", name="stock_non_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal]
    stock: Mapped[int] = mapped_column(default=0)
    view_count: Mapped[int] = mapped_column(default=0)
    category: Mapped[str | None] = mapped_column(String(50))


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(default=1)


class Account(VersionMixin, TimestampMixin, Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(100), unique=True)
    balance: Mapped[Decimal] = mapped_column(default=Decimal("0"))


class Note(SoftDeleteMixin, TimestampMixin, Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    color: Mapped[Color] = mapped_column(default=Color.RED)
    token: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    due: Mapped[date | None]
    meta: Mapped[dict[str, Any] | None]
    seen_at: Mapped[datetime | None]


class Membership(Base):
    __tablename__ = "memberships"

    group_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    role: Mapped[str] = mapped_column(String(20), default="member")


class Ticket(TimestampMixin, Base):
    """Columns filled in by the database (server defaults) or by SQL expressions."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), server_default="open")
    priority: Mapped[int] = mapped_column(server_default="3")
    code: Mapped[str] = mapped_column(String(20), default=func.lower("TK"))
    amount: Mapped[Decimal | None]


class Job(SoftDeleteMixin, Base):
    """A queued job: claimed by workers, counted by attempts."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    claimed_by: Mapped[int | None]
    attempts: Mapped[int] = mapped_column(default=0)


class Document(SoftDeleteMixin, VersionMixin, TimestampMixin, Base):
    """Every managed column at once: soft delete, optimistic version, timestamps."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(50), unique=True)
    title: Mapped[str] = mapped_column(String(100))
    views: Mapped[int] = mapped_column(default=0)


# -- a blog: relationships of every kind -----------------------------------------------

blog_article_tags = Table(
    "blog_article_tags",
    Base.metadata,
    Column("article_id", ForeignKey("blog_articles.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("blog_tags.id", ondelete="CASCADE"), primary_key=True),
)
blog_favorites = Table(
    "blog_favorites",
    Base.metadata,
    Column("user_id", ForeignKey("blog_users.id", ondelete="CASCADE"), primary_key=True),
    Column("article_id", ForeignKey("blog_articles.id", ondelete="CASCADE"), primary_key=True),
)
blog_follows = Table(
    "blog_follows",
    Base.metadata,
    Column("follower_id", ForeignKey("blog_users.id", ondelete="CASCADE"), primary_key=True),
    Column("followed_id", ForeignKey("blog_users.id", ondelete="CASCADE"), primary_key=True),
)


class BlogUser(Base):
    __tablename__ = "blog_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    bio: Mapped[str | None] = mapped_column(String(200))
    articles: Mapped[list[BlogArticle]] = relationship(back_populates="author")
    following: Mapped[list[BlogUser]] = relationship(
        secondary=blog_follows,
        primaryjoin=lambda: BlogUser.id == blog_follows.c.follower_id,
        secondaryjoin=lambda: BlogUser.id == blog_follows.c.followed_id,
        back_populates="followers",
    )
    followers: Mapped[list[BlogUser]] = relationship(
        secondary=blog_follows,
        primaryjoin=lambda: BlogUser.id == blog_follows.c.followed_id,
        secondaryjoin=lambda: BlogUser.id == blog_follows.c.follower_id,
        back_populates="following",
    )
    # declared with its own loading: the framework leaves it alone
    badges: Mapped[list[BlogBadge]] = relationship(lazy="selectin")


class BlogBadge(Base):
    __tablename__ = "blog_badges"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("blog_users.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(40))


class BlogTag(Base):
    __tablename__ = "blog_tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)


class BlogArticle(TimestampMixin, Base):
    __tablename__ = "blog_articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(120))
    author_id: Mapped[int] = mapped_column(ForeignKey("blog_users.id"))
    favorites_count: Mapped[int] = mapped_column(default=0)
    author: Mapped[BlogUser] = relationship(back_populates="articles")
    tags: Mapped[list[BlogTag]] = relationship(secondary=blog_article_tags)
    comments: Mapped[list[BlogComment]] = relationship(back_populates="article")
    favorited_by: Mapped[list[BlogUser]] = relationship(secondary=blog_favorites)


class BlogComment(SoftDeleteMixin, Base):
    __tablename__ = "blog_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(String(500))
    article_id: Mapped[int] = mapped_column(ForeignKey("blog_articles.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("blog_users.id"))
    article: Mapped[BlogArticle] = relationship(back_populates="comments")
    author: Mapped[BlogUser] = relationship()


class Sheet(Base):
    """A JSON document per row, for JSON lookups."""

    __tablename__ = "sheets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any] | None]


def _tidy_title(value: str) -> str:
    tidy = " ".join(value.split())
    if not tidy:
        raise ValueError("a title needs words")
    return tidy


class Listing(Base):
    """Declared value constraints on every kind of column."""

    __tablename__ = "listings"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(
        String(40), unique=True, info={"pattern": r"^[a-z0-9-]+$", "min_length": 3}
    )
    price: Mapped[Decimal] = mapped_column(info={"gt": 0, "le": 10_000})
    stock: Mapped[int] = mapped_column(default=0, info={"ge": 0, "le": 100})
    status: Mapped[str] = mapped_column(
        String(20), default="draft", info={"choices": ["draft", "live", "sold"]}
    )
    title: Mapped[str] = mapped_column(String(80), info={"validators": [_tidy_title]})


# -- full-text search -------------------------------------------------------------------


class SearchArticle(SoftDeleteMixin, Base):
    """A declared search vector: the title weighs A, the body B."""

    __tablename__ = "search_articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None]
    category: Mapped[str | None] = mapped_column(String(20))
    search = search_vector("title", "body")


class SearchMemo(Base):
    """No declared vector: searched on the fly (PostgreSQL) or with LIKE (SQLite)."""

    __tablename__ = "search_memos"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None]


# -- tenants and audit -------------------------------------------------------------------

tenant_item_labels = Table(
    "tenant_item_labels",
    Base.metadata,
    Column("item_id", ForeignKey("tenant_items.id", ondelete="CASCADE"), primary_key=True),
    Column("label_id", ForeignKey("tenant_labels.id", ondelete="CASCADE"), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
)


class TenantLabel(TenantMixin, Base):
    __tablename__ = "tenant_labels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))


class TenantItem(TenantMixin, SoftDeleteMixin, VersionMixin, TimestampMixin, Base):
    """A tenant's row: unique per tenant, with children and labels."""

    __tablename__ = "tenant_items"
    __table_args__ = (UniqueConstraint("tenant_id", "sku"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(80))
    qty: Mapped[int] = mapped_column(default=0)
    meta: Mapped[dict[str, Any] | None]
    labels: Mapped[list[TenantLabel]] = relationship(secondary=tenant_item_labels)
    parts: Mapped[list[TenantPart]] = relationship(back_populates="item")


class TenantPart(TenantMixin, Base):
    __tablename__ = "tenant_parts"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("tenant_items.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    item: Mapped[TenantItem] = relationship(back_populates="parts")


class Ledger(AuditMixin, SoftDeleteMixin, VersionMixin, TimestampMixin, Base):
    """An audited model: every write leaves audit rows."""

    __tablename__ = "ledgers"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(40), unique=True)
    balance: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    hits: Mapped[int] = mapped_column(default=0)
    secret: Mapped[str | None] = mapped_column(String(80), info={"redact": True})
