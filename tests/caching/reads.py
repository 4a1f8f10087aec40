"""Every cached read method, run through a fresh unit of work each, as plain data.

`snapshot(db, spec, cached=...)` calls the eleven read methods the cache serves and
turns what they return into comparable values, so a test can check that cached reads
equal the database's answer before and after a write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from orm_core import Database, Page, UnitOfWork, to_dict
from orm_repositories import AsyncRepository  # noqa: F401 - registers uow.repository(Model)

Call = Callable[[Any], Awaitable[Any]]


@dataclass(frozen=True)
class ReadSpec:
    """A model and one call per read method."""

    model: type
    calls: dict[str, Call]
    tenant: Any = None


def product_spec(model: type) -> ReadSpec:
    return ReadSpec(
        model,
        {
            "get": lambda r: r.get(1),
            "get_one": lambda r: r.get_one(1),
            "get_many": lambda r: r.get_many([1, 2, 3], preserve_order=True),
            "exists": lambda r: r.exists(category="a"),
            "exists_many": lambda r: r.exists_many([1, 2, 99]),
            "first": lambda r: r.first(order_by="-price"),
            "list": lambda r: r.list(category="a", order_by="id"),
            "list_and_count": lambda r: r.list_and_count(limit=2, order_by="id"),
            "count": lambda r: r.count(),
            "paginate": lambda r: r.paginate(page=1, page_size=2),
            "aggregate": lambda r: r.aggregate(group_by="category", sum="stock", count=True),
        },
    )


def comment_spec(model: type) -> ReadSpec:
    return ReadSpec(
        model,
        {
            "get": lambda r: r.get(1),
            "get_one": lambda r: r.get_one(1),
            "get_many": lambda r: r.get_many([1, 2]),
            "exists": lambda r: r.exists(body__startswith="c"),
            "exists_many": lambda r: r.exists_many([1, 2]),
            "first": lambda r: r.first(order_by="id", load="author"),
            "list": lambda r: r.list(order_by="id", load=["article", "author"]),
            "list_and_count": lambda r: r.list_and_count(limit=1, order_by="id"),
            "count": lambda r: r.count(),
            "paginate": lambda r: r.paginate(page=1, page_size=1),
            "aggregate": lambda r: r.aggregate(group_by="article_id", count=True),
        },
    )


def plain(value: Any) -> Any:
    """Entities as dicts (with the relationships they loaded), pages and tuples unpacked."""
    if isinstance(value, Page):
        return ("page", plain(value.items), value.total, value.has_next, value.total_pages)
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if hasattr(value, "__mapper__"):
        return to_dict(value)
    return value


async def snapshot(db: Database, spec: ReadSpec, *, cached: bool) -> dict[str, Any]:
    """Each read method's answer, each in its own read-only unit of work."""
    found: dict[str, Any] = {}
    for name, call in spec.calls.items():
        async with UnitOfWork(db, read_only=True, tenant=spec.tenant) as uow:
            repo = uow.repository(spec.model)
            try:
                found[name] = plain(await call(repo.cached() if cached else repo))
            except Exception as exc:  # get_one of a deleted row: the error is the answer
                found[name] = type(exc).__name__
    return found
