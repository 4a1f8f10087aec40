"""Repositories with Conduit's own queries on top of the generic ones."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from examples.realworld.models import Article, Comment, Tag, User
from orm_repositories import AsyncRepository

Load = str | Sequence[str]
# what an article needs to be rendered: its author (joined) and its tags (one SELECT … IN)
ARTICLE_LOAD: Load = ("author", "tags")


class UserRepository(AsyncRepository[User]):
    async def by_username(self, username: str) -> User | None:
        """Return the user with this username, or None."""
        return await self.first(username=username)

    async def by_email(self, email: str) -> User | None:
        """Return the user with this email, or None."""
        return await self.first(email=email)

    async def followed_by(self, follower_id: int | None, user_ids: Iterable[int]) -> set[int]:
        """Return which of `user_ids` the follower follows, in one statement."""
        ids = set(user_ids)
        if follower_id is None or not ids:
            return set()
        counts = await self.count_related(ids, "followers", id=follower_id)
        return {user_id for user_id, n in counts.items() if n}


class ArticleRepository(AsyncRepository[Article]):
    async def by_slug(self, slug: str, *, load: Load = ARTICLE_LOAD) -> Article | None:
        """Return the article with this slug (with its author and tags by default), or None."""
        return await self.first(slug=slug, load=load)

    async def newest(self, *, offset: int, limit: int, **lookups: Any) -> tuple[list[Article], int]:
        """Return one page of matching articles, newest first, and how many match in all."""
        return await self.list_and_count(
            offset=offset,
            limit=limit,
            order_by=["-created_at", "-id"],
            load=ARTICLE_LOAD,
            **lookups,
        )

    async def favorited_by_user(self, user_id: int | None, articles: Iterable[Article]) -> set[int]:
        """Return the ids of the articles the user favorited, in one statement."""
        ids = {article.id for article in articles}
        if user_id is None or not ids:
            return set()
        counts = await self.count_related(ids, "favorited_by", id=user_id)
        return {article_id for article_id, n in counts.items() if n}


class TagRepository(AsyncRepository[Tag]):
    async def ensure(self, names: Iterable[str]) -> list[Tag]:
        """Return the tags with these names, creating the missing ones (race-safe)."""
        wanted = sorted(set(names))
        if not wanted:
            return []
        # insert or leave alone: concurrent writers of the same new tag never collide
        await self.upsert_many(
            [{"name": name} for name in wanted], conflict_fields=["name"], update_fields=[]
        )
        return await self.list(name__in=wanted)

    async def in_use(self) -> list[str]:
        """Return the names of the tags at least one article carries, alphabetically."""
        return [tag.name for tag in await self.list(articles__isnull=False, order_by="name")]


class CommentRepository(AsyncRepository[Comment]):
    async def of_article(self, article_id: int) -> list[Comment]:
        """Return an article's comments with their authors, oldest first."""
        return await self.list(article_id=article_id, order_by="id", load="author")
