"""Request and response bodies, in the RealWorld spec's shapes (camelCase, wrapped).

Input is validated here, before any SQL runs; a refusal answers 422 with the
spec's `{"errors": {"body": [...]}}`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)

from examples.realworld.models import Article, Comment, User


def _timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as RealWorld clients expect: 2024-01-31T12:00:00.000Z."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Timestamp = Annotated[datetime, PlainSerializer(_timestamp, return_type=str)]
Username = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[^/\s]+$")
]
# emails are stored lower-cased, so the unique constraint is case-insensitive
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=255, pattern=r"^[^@\s]+@[^@\s]+$"),
    AfterValidator(str.lower),
]
Password = Annotated[str, Field(min_length=1, max_length=256)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Text = Annotated[str, Field(min_length=1, max_length=100_000)]
TagName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- users ------------------------------------------------------------------------------


class NewUser(_Input):
    username: Username
    email: Email
    password: Password


class LoginUser(_Input):
    email: Email
    password: Password


class UpdateUser(_Input):
    email: Email | None = None
    username: Username | None = None
    password: Password | None = None
    bio: Annotated[str, Field(max_length=10_000)] | None = None
    image: Annotated[str, Field(max_length=1000)] | None = None


class NewUserRequest(_Input):
    user: NewUser


class LoginUserRequest(_Input):
    user: LoginUser


class UpdateUserRequest(_Input):
    user: UpdateUser


class UserOut(BaseModel):
    email: str
    token: str
    username: str
    bio: str
    image: str | None


class UserResponse(BaseModel):
    user: UserOut

    @classmethod
    def of(cls, user: User, token: str) -> UserResponse:
        return cls(
            user=UserOut(
                email=user.email,
                token=token,
                username=user.username,
                bio=user.bio,
                image=user.image,
            )
        )


class ProfileOut(BaseModel):
    username: str
    bio: str
    image: str | None
    following: bool

    @classmethod
    def of(cls, user: User, following: bool) -> ProfileOut:
        return cls(username=user.username, bio=user.bio, image=user.image, following=following)


class ProfileResponse(BaseModel):
    profile: ProfileOut


# -- articles ---------------------------------------------------------------------------


class NewArticle(_Input):
    title: Title
    description: Text
    body: Text
    tag_list: Annotated[list[TagName], Field(alias="tagList", max_length=50)] = []


class UpdateArticle(_Input):
    title: Title | None = None
    description: Text | None = None
    body: Text | None = None


class NewArticleRequest(_Input):
    article: NewArticle


class UpdateArticleRequest(_Input):
    article: UpdateArticle


class _Output(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)


class ArticleOut(_Output):
    slug: str
    title: str
    description: str
    body: str
    tag_list: list[str] = Field(serialization_alias="tagList")
    created_at: Timestamp = Field(serialization_alias="createdAt")
    updated_at: Timestamp = Field(serialization_alias="updatedAt")
    favorited: bool
    favorites_count: int = Field(serialization_alias="favoritesCount")
    author: ProfileOut

    @classmethod
    def of(cls, article: Article, *, favorited: bool, following: bool) -> ArticleOut:
        return cls(
            slug=article.slug,
            title=article.title,
            description=article.description,
            body=article.body,
            tag_list=sorted(tag.name for tag in article.tags),
            created_at=article.created_at,
            updated_at=article.updated_at,
            favorited=favorited,
            favorites_count=article.favorites_count,
            author=ProfileOut.of(article.author, following),
        )


class ArticleResponse(BaseModel):
    article: ArticleOut


class ArticlesResponse(_Output):
    articles: list[ArticleOut]
    articles_count: int = Field(serialization_alias="articlesCount")


# -- comments and tags ------------------------------------------------------------------


class NewComment(_Input):
    body: Text


class NewCommentRequest(_Input):
    comment: NewComment


class CommentOut(_Output):
    id: int
    created_at: Timestamp = Field(serialization_alias="createdAt")
    updated_at: Timestamp = Field(serialization_alias="updatedAt")
    body: str
    author: ProfileOut

    @classmethod
    def of(cls, comment: Comment, *, following: bool) -> CommentOut:
        return cls(
            id=comment.id,
            created_at=comment.created_at,
            updated_at=comment.updated_at,
            body=comment.body,
            author=ProfileOut.of(comment.author, following),
        )


class CommentResponse(BaseModel):
    comment: CommentOut


class CommentsResponse(BaseModel):
    comments: list[CommentOut]


class TagsResponse(BaseModel):
    tags: list[str]


class ErrorsBody(BaseModel):
    body: list[str]


class GenericError(BaseModel):
    """The spec's error body: `{"errors": {"body": ["..."]}}`."""

    errors: ErrorsBody
