"""`load=`: which relationships a read loads, and how.

`load` is a relationship name, a dotted path (`"comments.author"`), a list of those, or
SQLAlchemy loader options (passed through). The framework picks the strategy: a
collection is loaded with one SELECT … IN per path (about one statement per 500
parents), a to-one relationship joined into the main query, except in locking reads,
which never join (`FOR UPDATE` cannot apply to the nullable side of an outer join, and
would lock the related rows too). Related rows meet the same scope as in lookups
(soft-deleted ones are left out). A bad path fails before any SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.interfaces import ORMOption

from orm_core.errors import InvalidQueryError
from orm_core.fields import model_info
from orm_core.lookups import RelatedCriteria, Step, relationship_step
from orm_repositories._select import related_criteria
from orm_repositories._target import Target

Load = str | ORMOption | Sequence[str | ORMOption] | None


def loader_options(
    model: type, load: Load, *, locking: bool = False, related: RelatedCriteria | None = None
) -> list[ORMOption]:
    """The loader options for `load` on reads of `model`.

    `related` gives the criteria loaded rows must meet (a repository's scope); without it
    the paths are only checked (a router checks its `load=` when it is built).

    Raises:
        InvalidQueryError: an unknown relationship or a value that is no path or option.
    """
    if load is None:
        return []
    items = [load] if isinstance(load, str | ORMOption) else load
    if not isinstance(items, Sequence):
        raise InvalidQueryError("load takes a relationship path, a list of them, or loader options")
    options: list[ORMOption] = []
    for item in items:
        if isinstance(item, ORMOption):
            options.append(item)
        elif isinstance(item, str) and item.strip():
            options.append(_path_option(model, item.strip(), locking, related))
        else:
            raise InvalidQueryError(
                f"load takes relationship paths such as 'comments.author', not {item!r}"
            )
    return options


def _path_option(
    model: type, path: str, locking: bool, related: RelatedCriteria | None
) -> ORMOption:
    option: Any = None
    current = model
    for name in path.split("."):
        step = relationship_step(current, name)
        if step is None:
            info = model_info(current)
            raise InvalidQueryError(
                f"unknown relationship {name!r} of {current.__name__} in load={path!r}",
                {"model": current.__name__, "load": path, "allowed": sorted(info.relationships)},
            )
        option = _chained(option, step, locking, related)
        current = step.target
    result: ORMOption = option
    return result


def _chained(option: Any, step: Step, locking: bool, related: RelatedCriteria | None) -> Any:
    criteria = related(step.target) if related is not None else []
    attribute = step.attribute.and_(*criteria) if criteria else step.attribute
    joined = not step.collection and not locking
    if option is None:
        return joinedload(attribute) if joined else selectinload(attribute)
    return option.joinedload(attribute) if joined else option.selectinload(attribute)


def with_load(statement: Any, target: Target, load: Load, *, locking: bool = False) -> Any:
    """`statement` loading the relationships `load` names, related rows in the target's scope."""
    options = target_options(target, load, locking=locking)
    return statement.options(*options) if options else statement


def target_options(target: Target, load: Load, *, locking: bool = False) -> list[ORMOption]:
    """The loader options for `load` on reads through `target`."""
    if load is None:
        return []
    return loader_options(target.model, load, locking=locking, related=related_criteria(target))
