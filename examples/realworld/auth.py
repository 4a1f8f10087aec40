"""`Authorization: Token <jwt>`: who is asking, as FastAPI dependencies."""

from dataclasses import dataclass
from typing import Annotated

from dependency_injector.wiring import Provide, inject
from fastapi import Depends, Header

from examples.realworld.containers import RealWorldContainer
from examples.realworld.errors import UnauthorizedError
from examples.realworld.security import Tokens


@dataclass(frozen=True, slots=True)
class Caller:
    """The user a valid token names, and the token itself (echoed back in user bodies)."""

    user_id: int
    token: str


@inject
async def optional_caller(
    tokens: Annotated[Tokens, Depends(Provide[RealWorldContainer.tokens])],
    authorization: Annotated[str | None, Header()] = None,
) -> Caller | None:
    """The caller, None without a token; 401 for a token that is malformed, forged or expired."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() not in ("token", "bearer") or not token.strip():
        raise UnauthorizedError("the Authorization header must read: Token <jwt>")
    user_id = tokens.user_id(token.strip())
    if user_id is None:
        raise UnauthorizedError("the token is invalid or expired")
    return Caller(user_id, token.strip())


async def required_caller(caller: Annotated[Caller | None, Depends(optional_caller)]) -> Caller:
    """The caller; 401 without a token."""
    if caller is None:
        raise UnauthorizedError("authentication required")
    return caller


def user_id_of(caller: Caller | None) -> int | None:
    """The caller's user id, None for an anonymous request."""
    return caller.user_id if caller is not None else None


OptionalCaller = Annotated[Caller | None, Depends(optional_caller)]
RequiredCaller = Annotated[Caller, Depends(required_caller)]
