"""Passwords (Argon2id, never stored in clear) and JSON Web Tokens (HS256, PyJWT)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

DEVELOPMENT_SECRET = "conduit-development-secret-do-not-use-in-production"


class Passwords:
    """Hash and check passwords with Argon2id, off the event loop (hashing is CPU-bound)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    async def hash(self, password: str) -> str:
        """Return a salted Argon2id hash of `password`."""
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Tell whether `password` matches the stored hash."""
        try:
            return await asyncio.to_thread(self._hasher.verify, password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


class Tokens:
    """Issue and read the signed tokens that carry a user's id."""

    algorithm = "HS256"

    def __init__(self, secret: str, lifetime: timedelta = timedelta(days=30)) -> None:
        self._secret = secret
        self._lifetime = lifetime

    def issue(self, user_id: int) -> str:
        """Return a token for the user, valid for the configured lifetime."""
        now = datetime.now(UTC)
        claims = {"sub": str(user_id), "iat": now, "exp": now + self._lifetime}
        return jwt.encode(claims, self._secret, algorithm=self.algorithm)

    def user_id(self, token: str) -> int | None:
        """Return the user id a valid token carries; None when forged, expired or malformed."""
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[self.algorithm], options={"require": ["sub"]}
            )
        except jwt.PyJWTError:
            return None
        subject = claims["sub"]
        return int(subject) if isinstance(subject, str) and subject.isdigit() else None
