"""No silent lazy loads: relationships of `Base` models raise a clear error when not loaded.

A lazy load cannot run under asyncio without an explicit await, and it is how N+1
queries creep in. A relationship left at SQLAlchemy's default loading (`lazy="select"`)
on a model of `Base` gets the strategy registered here instead: touching it when it
was not loaded, inside the unit of work or after it ended, raises
`RelationshipNotLoadedError` naming the relationship and `load=`. A relationship
declared with another `lazy=` keeps it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Mapper, RelationshipProperty, strategies

from orm_core.errors import RelationshipNotLoadedError

NOT_LOADED = "orm_not_loaded"

# `LazyLoader` in SQLAlchemy 2.0, `_LazyLoader` in 2.1
_LazyLoader: Any = getattr(strategies, "LazyLoader", None) or strategies._LazyLoader


@RelationshipProperty.strategy_for(lazy=NOT_LOADED)
class NotLoadedLoader(_LazyLoader):  # type: ignore[misc]
    """SQLAlchemy's `lazy="raise"` loader, raising `RelationshipNotLoadedError`."""

    def __init__(self, parent: Any, strategy_key: Any) -> None:
        super().__init__(parent, strategy_key)
        self._raise_always = True

    def _invoke_raise_load(self, state: Any, passive: Any, lazy: Any) -> None:
        owner = state.class_.__name__
        raise RelationshipNotLoadedError(
            f"{owner}.{self.key} was not loaded: pass load={self.key!r} to the read that "
            "fetched it (relationships never load on access)",
            {"model": owner, "relationship": self.key},
        )


def raise_when_not_loaded(base: type) -> None:
    """Give every default-loading relationship of `base`'s models the raising strategy."""

    @event.listens_for(base, "after_mapper_constructed", propagate=True)
    def _strict(mapper: Mapper[Any], _class: type) -> None:
        # `_props`, not `relationships`: that would configure every mapper now,
        # before forward references to models declared later can resolve
        for prop in mapper._props.values():
            if isinstance(prop, RelationshipProperty) and prop.lazy == "select":
                prop.lazy = NOT_LOADED  # type: ignore[assignment]
                prop.strategy_key = (("lazy", NOT_LOADED),)
