"""Conduit's HTTP endpoints under /api; services come from the container."""

from typing import Annotated

from dependency_injector.wiring import Provide, inject
from fastapi import APIRouter, Depends, Path, Query, Response

from examples.realworld.auth import OptionalCaller, RequiredCaller, user_id_of
from examples.realworld.containers import RealWorldContainer
from examples.realworld.schemas import (
    ArticleOut,
    ArticleResponse,
    ArticlesResponse,
    CommentOut,
    CommentResponse,
    CommentsResponse,
    GenericError,
    LoginUserRequest,
    NewArticleRequest,
    NewCommentRequest,
    NewUserRequest,
    ProfileOut,
    ProfileResponse,
    TagsResponse,
    UpdateArticleRequest,
    UpdateUserRequest,
    UserResponse,
)
from examples.realworld.security import Tokens
from examples.realworld.services import (
    ArticleService,
    ArticleView,
    CommentService,
    ProfileService,
    TagService,
    UserService,
)

router = APIRouter(prefix="/api", responses={422: {"model": GenericError}})

Users = Annotated[UserService, Depends(Provide[RealWorldContainer.users])]
Profiles = Annotated[ProfileService, Depends(Provide[RealWorldContainer.profiles])]
Articles = Annotated[ArticleService, Depends(Provide[RealWorldContainer.articles])]
Comments = Annotated[CommentService, Depends(Provide[RealWorldContainer.comments])]
Tags = Annotated[TagService, Depends(Provide[RealWorldContainer.tags])]
TokenIssuer = Annotated[Tokens, Depends(Provide[RealWorldContainer.tokens])]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]
Limit = Annotated[int, Query(ge=1, le=100)]


# -- users and profiles -----------------------------------------------------------------


@router.post("/users", status_code=201, tags=["users"])
@inject
async def register(body: NewUserRequest, users: Users, tokens: TokenIssuer) -> UserResponse:
    """Register a new user."""
    user = await users.register(body.user.username, body.user.email, body.user.password)
    return UserResponse.of(user, tokens.issue(user.id))


@router.post("/users/login", tags=["users"])
@inject
async def login(body: LoginUserRequest, users: Users, tokens: TokenIssuer) -> UserResponse:
    """Log in with email and password."""
    user = await users.login(body.user.email, body.user.password)
    return UserResponse.of(user, tokens.issue(user.id))


@router.get("/user", tags=["users"])
@inject
async def current_user(caller: RequiredCaller, users: Users) -> UserResponse:
    """Return the logged-in user."""
    return UserResponse.of(await users.get(caller.user_id), caller.token)


@router.put("/user", tags=["users"])
@inject
async def update_user(
    body: UpdateUserRequest, caller: RequiredCaller, users: Users
) -> UserResponse:
    """Change the logged-in user's email, username, password, bio or image."""
    changes = body.user.model_dump(exclude_unset=True, exclude_none=True)
    return UserResponse.of(await users.update(caller.user_id, changes), caller.token)


@router.get("/profiles/{username}", tags=["profiles"])
@inject
async def profile(username: str, caller: OptionalCaller, profiles: Profiles) -> ProfileResponse:
    """Return a profile."""
    found = await profiles.get(username, user_id_of(caller))
    return ProfileResponse(profile=ProfileOut.of(found.user, found.following))


@router.post("/profiles/{username}/follow", tags=["profiles"])
@inject
async def follow(username: str, caller: RequiredCaller, profiles: Profiles) -> ProfileResponse:
    """Follow a user."""
    found = await profiles.follow(username, caller.user_id)
    return ProfileResponse(profile=ProfileOut.of(found.user, found.following))


@router.delete("/profiles/{username}/follow", tags=["profiles"])
@inject
async def unfollow(username: str, caller: RequiredCaller, profiles: Profiles) -> ProfileResponse:
    """Stop following a user."""
    found = await profiles.unfollow(username, caller.user_id)
    return ProfileResponse(profile=ProfileOut.of(found.user, found.following))


# -- articles ---------------------------------------------------------------------------


@router.get("/articles", tags=["articles"])
@inject
async def list_articles(
    caller: OptionalCaller,
    articles: Articles,
    tag: str | None = None,
    author: str | None = None,
    favorited: str | None = None,
    offset: Offset = 0,
    limit: Limit = 20,
) -> ArticlesResponse:
    """Return the newest articles, filtered by tag, author or favoriting user."""
    views, total = await articles.find(
        user_id_of(caller),
        tag=tag,
        author=author,
        favorited=favorited,
        offset=offset,
        limit=limit,
    )
    return _page(views, total)


@router.get("/articles/feed", tags=["articles"])
@inject
async def feed(
    caller: RequiredCaller, articles: Articles, offset: Offset = 0, limit: Limit = 20
) -> ArticlesResponse:
    """Return the newest articles by the authors the caller follows."""
    views, total = await articles.feed(caller.user_id, offset=offset, limit=limit)
    return _page(views, total)


@router.get("/articles/{slug}", tags=["articles"])
@inject
async def get_article(slug: str, caller: OptionalCaller, articles: Articles) -> ArticleResponse:
    """Return one article."""
    return _one(await articles.get(slug, user_id_of(caller)))


@router.post("/articles", status_code=201, tags=["articles"])
@inject
async def create_article(
    body: NewArticleRequest, caller: RequiredCaller, articles: Articles
) -> ArticleResponse:
    """Write an article."""
    new = body.article
    view = await articles.create(
        caller.user_id,
        title=new.title,
        description=new.description,
        body=new.body,
        tags=new.tag_list,
    )
    return _one(view)


@router.put("/articles/{slug}", tags=["articles"])
@inject
async def update_article(
    slug: str, body: UpdateArticleRequest, caller: RequiredCaller, articles: Articles
) -> ArticleResponse:
    """Change one's own article."""
    changes = body.article.model_dump(exclude_unset=True, exclude_none=True)
    return _one(await articles.update(slug, caller.user_id, changes))


@router.delete("/articles/{slug}", status_code=204, tags=["articles"])
@inject
async def delete_article(slug: str, caller: RequiredCaller, articles: Articles) -> Response:
    """Delete one's own article."""
    await articles.delete(slug, caller.user_id)
    return Response(status_code=204)


@router.post("/articles/{slug}/favorite", tags=["favorites"])
@inject
async def favorite(slug: str, caller: RequiredCaller, articles: Articles) -> ArticleResponse:
    """Favorite an article."""
    return _one(await articles.favorite(slug, caller.user_id))


@router.delete("/articles/{slug}/favorite", tags=["favorites"])
@inject
async def unfavorite(slug: str, caller: RequiredCaller, articles: Articles) -> ArticleResponse:
    """Take a favorite back."""
    return _one(await articles.unfavorite(slug, caller.user_id))


# -- comments and tags ------------------------------------------------------------------


@router.get("/articles/{slug}/comments", tags=["comments"])
@inject
async def list_comments(slug: str, caller: OptionalCaller, comments: Comments) -> CommentsResponse:
    """Return an article's comments."""
    views = await comments.for_article(slug, user_id_of(caller))
    return CommentsResponse(
        comments=[CommentOut.of(v.comment, following=v.following) for v in views]
    )


@router.post("/articles/{slug}/comments", tags=["comments"])
@inject
async def add_comment(
    slug: str, body: NewCommentRequest, caller: RequiredCaller, comments: Comments
) -> CommentResponse:
    """Comment on an article."""
    view = await comments.add(slug, caller.user_id, body.comment.body)
    return CommentResponse(comment=CommentOut.of(view.comment, following=view.following))


@router.delete("/articles/{slug}/comments/{comment_id}", status_code=204, tags=["comments"])
@inject
async def delete_comment(
    slug: str,
    comment_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    caller: RequiredCaller,
    comments: Comments,
) -> Response:
    """Delete one's own comment."""
    await comments.delete(slug, comment_id, caller.user_id)
    return Response(status_code=204)


@router.get("/tags", tags=["tags"])
@inject
async def tags(service: Tags) -> TagsResponse:
    """Return every tag in use."""
    return TagsResponse(tags=await service.all())


def _one(view: ArticleView) -> ArticleResponse:
    return ArticleResponse(
        article=ArticleOut.of(view.article, favorited=view.favorited, following=view.following)
    )


def _page(views: list[ArticleView], total: int) -> ArticlesResponse:
    return ArticlesResponse(
        articles=[
            ArticleOut.of(v.article, favorited=v.favorited, following=v.following) for v in views
        ],
        articles_count=total,
    )
