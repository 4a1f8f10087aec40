"""Conduit's operations, one unit of work each (read-only ones for reads); no HTTP here."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from examples.realworld.errors import (
    ForbiddenError,
    MissingError,
    UnauthorizedError,
    ValidationFailedError,
)
from examples.realworld.models import Article, Comment, User
from examples.realworld.repositories import ARTICLE_LOAD, Load
from examples.realworld.security import Passwords
from examples.realworld.unit_of_work import RealWorldUnitOfWork
from orm_core import retry_transaction

UnitOfWorkFactory = Callable[[], RealWorldUnitOfWork]


@dataclass(frozen=True, slots=True)
class Profile:
    user: User
    following: bool


@dataclass(frozen=True, slots=True)
class ArticleView:
    article: Article
    favorited: bool
    following: bool


@dataclass(frozen=True, slots=True)
class CommentView:
    comment: Comment
    following: bool


class UserService:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, reader: UnitOfWorkFactory, passwords: Passwords
    ) -> None:
        self._uow = uow_factory
        self._reader = reader
        self._passwords = passwords

    async def register(self, username: str, email: str, password: str) -> User:
        """Create a user; 422 when the username or email is taken."""
        password_hash = await self._passwords.hash(password)
        async with self._uow() as uow:
            await _check_free(uow, username=username, email=email)
            return await uow.users.create(
                username=username, email=email, password_hash=password_hash
            )

    async def login(self, email: str, password: str) -> User:
        """Return the user with these credentials; 401 otherwise."""
        async with self._reader() as uow:
            user = await uow.users.by_email(email)
        if user is None or not await self._passwords.verify(user.password_hash, password):
            raise UnauthorizedError("email or password is invalid")
        return user

    async def get(self, user_id: int) -> User:
        """Return the user a token names; 401 when it no longer exists."""
        async with self._reader() as uow:
            user = await uow.users.get(user_id)
        if user is None:
            raise UnauthorizedError("the token's user does not exist")
        return user

    async def update(self, user_id: int, changes: dict[str, Any]) -> User:
        """Change the user's fields; a new password is hashed; 422 for a taken name or email."""
        password = changes.pop("password", None)
        if password is not None:
            changes["password_hash"] = await self._passwords.hash(password)
        async with self._uow() as uow:
            unique = {k: v for k, v in changes.items() if k in ("username", "email")}
            await _check_free(uow, exclude=user_id, **unique)
            if not changes:
                return await uow.users.get_one(user_id)
            return await uow.users.update(user_id, **changes)


class ProfileService:
    def __init__(self, uow_factory: UnitOfWorkFactory, reader: UnitOfWorkFactory) -> None:
        self._uow = uow_factory
        self._reader = reader

    async def get(self, username: str, viewer_id: int | None) -> Profile:
        """Return a profile, with whether the viewer follows it."""
        async with self._reader() as uow:
            user = await _user(uow, username)
            return Profile(user, bool(await uow.users.followed_by(viewer_id, [user.id])))

    async def follow(self, username: str, follower_id: int) -> Profile:
        """Follow a user (idempotent); 422 for oneself."""
        async with self._uow() as uow:
            user = await _user(uow, username)
            if user.id == follower_id:
                raise ValidationFailedError("you cannot follow yourself")
            await uow.users.link(follower_id, "following", [user.id])
            return Profile(user, True)

    async def unfollow(self, username: str, follower_id: int) -> Profile:
        """Stop following a user (idempotent)."""
        async with self._uow() as uow:
            user = await _user(uow, username)
            await uow.users.unlink(follower_id, "following", [user.id])
            return Profile(user, False)


class ArticleService:
    def __init__(self, uow_factory: UnitOfWorkFactory, reader: UnitOfWorkFactory) -> None:
        self._uow = uow_factory
        self._reader = reader

    async def find(
        self,
        viewer_id: int | None,
        *,
        tag: str | None,
        author: str | None,
        favorited: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[ArticleView], int]:
        """Return one page of the newest articles matching the filters, and their total."""
        lookups = {
            "tags__name": tag,
            "author__username": author,
            "favorited_by__username": favorited,
        }
        async with self._reader() as uow:
            articles, total = await uow.articles.newest(
                offset=offset, limit=limit, **{k: v for k, v in lookups.items() if v is not None}
            )
            following = await uow.users.followed_by(viewer_id, {a.author_id for a in articles})
            return await _views(uow, viewer_id, articles, following), total

    async def feed(
        self, viewer_id: int, *, offset: int, limit: int
    ) -> tuple[list[ArticleView], int]:
        """Return one page of the newest articles by the authors the viewer follows."""
        async with self._reader() as uow:
            articles, total = await uow.articles.newest(
                offset=offset, limit=limit, author__followers__id=viewer_id
            )
            # every author here is one the viewer follows: that is the feed's filter
            following = {article.author_id for article in articles}
            return await _views(uow, viewer_id, articles, following), total

    async def get(self, slug: str, viewer_id: int | None) -> ArticleView:
        """Return one article."""
        async with self._reader() as uow:
            return await _view(uow, viewer_id, await _article(uow, slug))

    async def create(
        self, author_id: int, *, title: str, description: str, body: str, tags: Sequence[str]
    ) -> ArticleView:
        """Write a new article with its tags (created as needed)."""
        async with self._uow() as uow:
            slug = slugify(title)
            if await uow.articles.exists(slug=slug):
                slug = f"{slug}-{secrets.token_hex(4)}"
            article = await uow.articles.create(
                slug=slug,
                title=title,
                description=description,
                body=body,
                author_id=author_id,
                tags=await uow.tags.ensure(tags),
            )
            # nobody has favorited it yet, and nobody follows themselves
            return ArticleView(await _article(uow, article.slug), False, False)

    async def update(self, slug: str, user_id: int, changes: dict[str, Any]) -> ArticleView:
        """Change one's own article; a new title gives a new slug."""
        async with self._uow() as uow:
            article = _own(await _article(uow, slug), user_id)
            if changes.get("title") not in (None, article.title):
                changes["slug"] = f"{slugify(changes['title'])}-{secrets.token_hex(4)}"
            if changes:
                await uow.articles.update(article.id, **changes)
            return await _view(uow, user_id, article)

    async def delete(self, slug: str, user_id: int) -> None:
        """Delete one's own article; the database removes its comments, favorites and tag links."""
        async with self._uow() as uow:
            article = _own(await _article(uow, slug), user_id)
            await uow.articles.delete(article.id)

    async def favorite(self, slug: str, user_id: int) -> ArticleView:
        """Favorite an article: idempotent, and the count moves only when the pair is new."""

        async def work(uow: RealWorldUnitOfWork) -> ArticleView:
            article = await _article(uow, slug)
            added = await uow.articles.link(article.id, "favorited_by", [user_id])
            if added:
                # touch=False: favoriting is not an edit, so updatedAt stays
                await uow.articles.increment(article.id, "favorites_count", added, touch=False)
            else:
                article = await _current(uow, article.id)
            following = await uow.users.followed_by(user_id, [article.author_id])
            return ArticleView(article, True, bool(following))

        return await retry_transaction(self._uow, work, attempts=5)

    async def unfavorite(self, slug: str, user_id: int) -> ArticleView:
        """Take a favorite back: idempotent, the count moves only when a pair went."""

        async def work(uow: RealWorldUnitOfWork) -> ArticleView:
            article = await _article(uow, slug)
            removed = await uow.articles.unlink(article.id, "favorited_by", [user_id])
            if removed:
                await uow.articles.decrement(
                    article.id, "favorites_count", removed, min_value=0, touch=False
                )
            else:
                article = await _current(uow, article.id)
            following = await uow.users.followed_by(user_id, [article.author_id])
            return ArticleView(article, False, bool(following))

        return await retry_transaction(self._uow, work, attempts=5)


class CommentService:
    def __init__(self, uow_factory: UnitOfWorkFactory, reader: UnitOfWorkFactory) -> None:
        self._uow = uow_factory
        self._reader = reader

    async def for_article(self, slug: str, viewer_id: int | None) -> list[CommentView]:
        """Return an article's comments, oldest first."""
        async with self._reader() as uow:
            article = await _article(uow, slug, load=())
            comments = await uow.comments.of_article(article.id)
            following = await uow.users.followed_by(viewer_id, {c.author_id for c in comments})
            return [CommentView(c, c.author_id in following) for c in comments]

    async def add(self, slug: str, author_id: int, body: str) -> CommentView:
        """Comment on an article."""
        async with self._uow() as uow:
            article = await _article(uow, slug, load=())
            comment = await uow.comments.create(
                article_id=article.id, author_id=author_id, body=body
            )
            return CommentView(await uow.comments.get_one(comment.id, load="author"), False)

    async def delete(self, slug: str, comment_id: int, user_id: int) -> None:
        """Delete one's own comment."""
        async with self._uow() as uow:
            article = await _article(uow, slug, load=())
            comment = await uow.comments.first(id=comment_id, article_id=article.id)
            if comment is None:
                raise MissingError("comment not found")
            if comment.author_id != user_id:
                raise ForbiddenError("only the author may delete this comment")
            await uow.comments.delete(comment.id)


class TagService:
    def __init__(self, reader: UnitOfWorkFactory) -> None:
        self._reader = reader

    async def all(self) -> list[str]:
        """Return every tag in use."""
        async with self._reader() as uow:
            return await uow.tags.in_use()


def slugify(title: str) -> str:
    """`How to train your dragon?` -> `how-to-train-your-dragon`."""
    slug = re.sub(r"[^\w]+", "-", title.lower()).strip("-_")[:200]
    return slug or "article"


async def _check_free(
    uow: RealWorldUnitOfWork, *, exclude: int | None = None, **values: str
) -> None:
    taken = [
        f"{field} has already been taken"
        for field, value in values.items()
        if await uow.users.exists(**{field: value}, **({"id__ne": exclude} if exclude else {}))
    ]
    if taken:
        raise ValidationFailedError(*taken)


async def _user(uow: RealWorldUnitOfWork, username: str) -> User:
    user = await uow.users.by_username(username)
    if user is None:
        raise MissingError("profile not found")
    return user


async def _article(uow: RealWorldUnitOfWork, slug: str, *, load: Load = ARTICLE_LOAD) -> Article:
    article = await uow.articles.by_slug(slug, load=load)
    if article is None:
        raise MissingError("article not found")
    return article


async def _current(uow: RealWorldUnitOfWork, article_id: int) -> Article:
    """The article as stored now: a concurrent favorite may have moved its counter since
    this transaction first read it (the row lock waits for that writer to finish)."""
    article = await uow.articles.select_for_update(article_id, load=ARTICLE_LOAD)
    if article is None:
        raise MissingError("article not found")
    return article


def _own(article: Article, user_id: int) -> Article:
    if article.author_id != user_id:
        raise ForbiddenError("only the author may change this article")
    return article


async def _view(uow: RealWorldUnitOfWork, viewer_id: int | None, article: Article) -> ArticleView:
    [view] = await _views(
        uow, viewer_id, [article], await uow.users.followed_by(viewer_id, [article.author_id])
    )
    return view


async def _views(
    uow: RealWorldUnitOfWork, viewer_id: int | None, articles: list[Article], following: set[int]
) -> list[ArticleView]:
    """Attach the viewer's flags to a page of articles: one statement for all favorites."""
    favorited = await uow.articles.favorited_by_user(viewer_id, articles)
    return [ArticleView(a, a.id in favorited, a.author_id in following) for a in articles]
