"""Entity tags for models with a version column: `ETag`, `If-Match` and `If-None-Match`."""

from __future__ import annotations

from typing import Any

from orm_core import ConcurrentModificationError


def etag_for(entity: Any, attribute: str) -> str:
    """Return the strong entity tag of an entity: its version in quotes."""
    return f'"{getattr(entity, attribute)}"'


def matches(header: str, entity: Any, attribute: str) -> bool:
    """Tell whether an `If-Match` / `If-None-Match` header names the entity's current tag.

    Weak tags (`W/"3"`) compare by value, and `*` matches any existing entity.
    """
    current = etag_for(entity, attribute)
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == current:
            return True
    return False


def check_if_match(header: str | None, entity: Any, attribute: str) -> None:
    """Raise unless `If-Match` (when given) names the entity's current version.

    Raises:
        ConcurrentModificationError: the entity changed since the client read it.
    """
    if header is not None and not matches(header, entity, attribute):
        raise ConcurrentModificationError(
            "the resource was modified since it was read (If-Match does not match its ETag)",
            {"etag": etag_for(entity, attribute)},
        )
