"""`AsyncRepository[T]`: every public data-access method for one model, in one class.

Each method checks its arguments and delegates to the module owning its concern (see
docs/architecture.md); signatures are compact on purpose, as this file is the index.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable, Mapping
from decimal import Decimal
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncSession

from orm_core.audit import AuditLog
from orm_core.errors import InvalidQueryError
from orm_core.fields import ModelInfo, model_info
from orm_core.generic import bound_to_model, is_model
from orm_core.pagination import CursorPage, Page
from orm_core.search import DEFAULT_HIGHLIGHT, Highlight
from orm_repositories import (
    _aggregate,
    _conditional,
    _counters,
    _delete,
    _get_or_create,
    _insert,
    _keyset,
    _locking,
    _reads,
    _relations,
    _sampling,
    _search,
    _streaming,
    _update,
    _upsert,
)
from orm_repositories._keys import pk_equals, pk_of, pk_value, pk_values
from orm_repositories._loading import Load
from orm_repositories._reads import CountMode, not_found
from orm_repositories._select import conditions, criteria, required_conditions
from orm_repositories._target import Scope, Target
from orm_repositories._values import check_entity, check_values

ModelT = TypeVar("ModelT", bound=Any)
DEFAULT_BATCH_SIZE = 5_000
Rows = Iterable[Mapping[str, Any]]
Names = builtins.list[str] | tuple[str, ...] | str
Number = int | float | Decimal


# fmt: off
class AsyncRepository(Generic[ModelT]):
    """Data access for one model; the model comes from the type argument.

    Example:
        class ProductRepository(AsyncRepository[Product]):
            async def cheapest(self, n: int) -> list[Product]:
                return await self.list(order_by="price", limit=n)

        products = ProductRepository(session)          # or uow.products
        widget = await products.create(sku="A-1", name="Widget", price=Decimal("9.99"))

    `AsyncRepository[Product]` is itself a class bound to `Product`, so it can be
    instantiated, annotated on a unit of work or handed to `crud_router`. Reads
    exclude soft-deleted rows; `load=` names the relationships a read loads.
    """

    __orm_repository__: ClassVar[bool] = True
    model: ClassVar[type[Any]]
    max_page_size: ClassVar[int] = 1000

    def __init__(self, session: AsyncSession) -> None:
        if not isinstance(session, AsyncSession):
            raise TypeError(f"{type(self).__name__} needs an AsyncSession, got {session!r}")
        if getattr(type(self), "model", None) is None:
            raise TypeError(f"{type(self).__name__} has no model: subclass AsyncRepository[Model]")
        self.session = session
        self._scope: Scope = "active"
        self._target: Target | None = None

    def __class_getitem__(cls, params: Any) -> Any:
        if is_model(params):
            return bound_to_model(cls, params)
        return super().__class_getitem__(params)  # type: ignore[misc]

    @classmethod
    def for_model(cls, model: type[Any]) -> type[Self]:
        """Return (and cache) this repository class bound to `model` (same as `cls[model]`)."""
        return bound_to_model(cls, model)

    @property
    def info(self) -> ModelInfo:
        """Field metadata of the model."""
        return model_info(self.model)

    @property
    def target(self) -> Target:
        """The session, model, scope and backend every call of this repository works on."""
        if self._target is None:
            self._target = Target.of(self.session, self.model, self._scope)
        return self._target

    # -- reading ------------------------------------------------------------------------

    async def get(self, id: Any, *, load: Load = None) -> ModelT | None:
        """Return the row with this primary key (a tuple for composite keys), or None."""
        return cast("ModelT | None", await _reads.get(self.target, id, load))

    async def get_one(self, id: Any, *, load: Load = None) -> ModelT:
        """Return the row with this primary key; `NotFoundError` when missing or soft-deleted."""
        entity = await self.get(id, load=load)
        if entity is None:
            raise not_found(self.target, {"id": id})
        return entity

    async def get_many(
        self, ids: Iterable[Any], *, preserve_order: bool = False, load: Load = None
    ) -> builtins.list[ModelT]:
        """Return the rows with these ids in one query; missing ids are skipped."""
        return await _reads.get_many(self.target, ids, preserve_order, load)

    async def exists(self, *where: Any, **lookups: Any) -> bool:
        """Tell whether any row matches."""
        return await _reads.exists(self.target, where, lookups)

    async def exists_many(self, ids: Iterable[Any]) -> dict[Any, bool]:
        """Map each id (lists become tuples) to whether its row exists, in one query."""
        return await _reads.exists_many(self.target, ids)

    async def count(self, *where: Any, **lookups: Any) -> int:
        """Count the matching rows."""
        return await _reads.count(self.target, criteria(self.target, where, lookups))

    async def list(self, *where: Any, order_by: Any = None, limit: int | None = None,
                   offset: int | None = None, load: Load = None, **lookups: Any,
                   ) -> builtins.list[ModelT]:
        """Return the matching rows, ordered and sliced as asked."""
        return await _reads.list_rows(self.target, where, lookups, order_by, limit, offset, load)

    async def first(self, *where: Any, order_by: Any = None, load: Load = None,
                    **lookups: Any) -> ModelT | None:
        """Return the first matching row (by primary key unless `order_by` is given)."""
        entity = await _reads.first(self.target, where, lookups, order_by, load)
        return cast("ModelT | None", entity)

    async def list_and_count(self, *where: Any, offset: int = 0, limit: int | None = None,
                             order_by: Any = None, load: Load = None, **lookups: Any,
                             ) -> tuple[builtins.list[ModelT], int]:
        """Return one slice of the matching rows (limit/offset) and how many match in all."""
        return await _reads.list_and_count(self.target, where, lookups, offset=offset,
                                           limit=limit, order_by=order_by, load=load)

    async def paginate(self, *where: Any, page: int = 1, page_size: int = 20, order_by: Any = None,
                       count: CountMode = "exact", load: Load = None, **lookups: Any,
                       ) -> Page[ModelT]:
        """Return one page and the total (`count="estimate"`: the planner's; `"none"`: no total)."""
        return await _reads.paginate(self.target, where, lookups, page=page, page_size=page_size,
                                     order_by=order_by, count_mode=count,
                                     max_page_size=self.max_page_size, load=load)

    async def paginate_cursor(self, *where: Any, after: str | None = None, limit: int = 20,
                              order_by: Any = "id", load: Load = None, **lookups: Any,
                              ) -> CursorPage[ModelT]:
        """Return the keyset page after the signed cursor `after` (a forged one is refused)."""
        return await _keyset.paginate_cursor(self.target, where, lookups, after=after, limit=limit,
                                             order_by=order_by, max_page_size=self.max_page_size,
                                             load=load)

    def stream(self, *where: Any, batch_size: int = 1000, order_by: Any = None, load: Load = None,
               **lookups: Any) -> AsyncIterator[ModelT]:
        """Yield the matching rows through a server-side cursor, `batch_size` in memory."""
        return _streaming.stream(self.target, where, lookups, batch_size=batch_size,
                                 order_by=order_by, load=load)

    async def aggregate(self, *where: Any, group_by: Names = (), count: bool | Names | None = None,
                        sum: Names | None = None, avg: Names | None = None,
                        min: Names | None = None, max: Names | None = None,
                        having: Mapping[str, Any] | None = None, **lookups: Any,
                        ) -> builtins.list[dict[str, Any]]:
        """Return one dict per group of COUNT/SUM/AVG/MIN/MAX results (see docs/reading.md)."""
        functions = {"sum": sum, "avg": avg, "min": min, "max": max}
        return await _aggregate.aggregate(self.target, where, lookups, group_by=group_by,
                                          count=count, functions=functions, having=having)

    async def refresh(self, entity: ModelT, *, load: Load = None) -> ModelT:
        """Re-read the row of a held entity, without a lock; `NotFoundError` if it went."""
        found = await _reads.refresh(self.target, entity, load)
        if found is None:
            raise not_found(self.target, {"id": pk_of(self.info, entity)})
        return cast("ModelT", found)

    async def history(self, id: Any) -> builtins.list[AuditLog]:
        """Return the audit trail of the row with this id (`AuditMixin` models), newest first."""
        return await _reads.history(self.target, id)

    async def random(self, *where: Any, load: Load = None, **lookups: Any) -> ModelT | None:
        """Return one uniformly drawn matching row, or None."""
        rows = await self.sample(1, *where, load=load, **lookups)
        return rows[0] if rows else None

    async def sample(self, n: int, *where: Any, load: Load = None,
                     **lookups: Any) -> builtins.list[ModelT]:
        """Return `n` distinct matching rows drawn uniformly (all of them when fewer match)."""
        return await _sampling.sample(self.target, n, criteria(self.target, where, lookups), load)

    async def count_related(self, entities_or_ids: Iterable[Any], relationship: str, *where: Any,
                            **lookups: Any) -> dict[Any, int]:
        """Count the related rows (matching `where`/`lookups`) of each parent, in one statement."""
        return await _relations.count_related(self.target, entities_or_ids, relationship,
                                              where, lookups)

    async def search(self, text: str, *, fields: Names, limit: int = 20, load: Load = None,
                     **lookups: Any) -> builtins.list[ModelT]:
        """Return the rows matching `text` (websearch syntax) in `fields`, most relevant first."""
        return await _search.search(self.target, text, fields, limit, load, lookups)

    async def search_highlights(self, text: str, *, fields: Names, limit: int = 20,
                                highlight: Highlight = DEFAULT_HIGHLIGHT, load: Load = None,
                                **lookups: Any) -> builtins.list[tuple[ModelT, dict[str, str]]]:
        """`search`, each row with its fields' excerpts, matches marked (HTML-safe by default)."""
        return await _search.search_highlights(self.target, text, fields, limit, load, highlight,
                                               lookups)

    async def add(self, entity: ModelT) -> ModelT:
        """Insert a new entity and return it with its generated values."""
        await _insert.add(self.target, [entity])
        return entity

    async def add_many(self, entities: Iterable[ModelT]) -> builtins.list[ModelT]:
        """Insert several entities in one flush."""
        items = builtins.list(entities)
        await _insert.add(self.target, items)
        return items

    async def create(self, **values: Any) -> ModelT:
        """Insert a row built from field values (collections too); `DuplicateError` on a clash."""
        return cast("ModelT", await _insert.create(self.target, values))

    async def bulk_create(self, rows: Rows, *, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
        """Insert dicts without ORM objects, all or nothing; return how many were inserted."""
        return await _insert.bulk_create(self.target, rows, batch_size)

    async def update(self, id: Any, /, **values: Any) -> ModelT:
        """Set fields (and collections) on the row with this id; `NotFoundError` if none."""
        checked = check_values(self.target, values, allow_pk=False)
        if not checked or any(k in self.info.relationships for k in checked):
            return await self.update_fields(await self.get_one(id), **checked)
        entity = await _update.update_one(self.target, pk_value(self.info, id), checked)
        if entity is None:
            raise not_found(self.target, {"id": id})
        return cast("ModelT", entity)

    async def update_fields(self, entity: ModelT, /, **values: Any) -> ModelT:
        """Set fields on an entity's row, under its version (`ConcurrentModificationError`)."""
        check_entity(self.target, entity)
        checked = check_values(self.target, values, allow_pk=False)
        if entity not in self.session:
            entity = await self.get_one(pk_of(self.info, entity))
        return cast("ModelT", await _update.update_entity(self.target, entity, checked))

    async def bulk_update(self, rows: Rows) -> int:
        """Update rows given as dicts holding their primary key; return the rows matched."""
        if isinstance(rows, Mapping | str | bytes):
            raise InvalidQueryError("bulk_update takes an iterable of dicts")
        return await _update.bulk_update(self.target, rows)

    async def update_where(self, values: Mapping[str, Any], /, *where: Any, **lookups: Any) -> int:
        """Update every matching row in one statement; return the number matched.

        Values may be SQL expressions; pass `sqlalchemy.true()` to update every row.
        """
        if not isinstance(values, Mapping) or not values:
            raise InvalidQueryError("update_where needs a non-empty mapping of values")
        checked = check_values(self.target, values, allow_pk=False)
        required_conditions(where, lookups, "update_where")
        found = conditions(self.target, where, lookups)
        return await _update.update_where(self.target, found, checked)

    async def delete(self, id: Any) -> bool:
        """Delete the row with this id (soft-deleted or not); return whether it existed.

        The database applies the children's `ON DELETE` actions.
        """
        ident = pk_value(self.info, id)
        target = self.target.widened("all")
        return await _delete.delete_where(target, [pk_equals(self.info, ident)], keys=[ident]) > 0

    async def bulk_delete(self, ids: Iterable[Any]) -> int:
        """Delete the rows with these ids; return how many went."""
        return await _delete.delete_keys(self.target.widened("all"), pk_values(self.info, ids))

    async def delete_where(self, *where: Any, **lookups: Any) -> int:
        """Delete every matching row; pass `sqlalchemy.true()` to delete every row."""
        required_conditions(where, lookups, "delete_where")
        return await _delete.delete_where(self.target, conditions(self.target, where, lookups))

    async def get_or_create(self, defaults: Mapping[str, Any] | None = None,
                            **lookups: Any) -> tuple[ModelT, bool]:
        """Return `(row, False)` for the row matching `lookups`, else insert it: `(row, True)`."""
        return await _get_or_create.get_or_create(self.target, defaults, lookups)

    async def update_or_create(self, defaults: Mapping[str, Any] | None = None,
                               **lookups: Any) -> tuple[ModelT, bool]:
        """Update the row matching `lookups` with `defaults`, or insert it; `(row, created)`."""
        return await _get_or_create.update_or_create(self.target, defaults, lookups)

    async def upsert(self, *, conflict_fields: Names, update_fields: Names | None = None,
                     **values: Any) -> ModelT:
        """Insert, or update the row with the same `conflict_fields` (`[]`: leave it alone)."""
        entity = await _upsert.upsert(self.target, values, conflict_fields, update_fields)
        return cast("ModelT", entity)

    async def upsert_many(self, rows: Rows, *, conflict_fields: Names,
                          update_fields: Names | None = None) -> int:
        """Upsert many rows (a repeated key counts once, the last wins); return the count."""
        return await _upsert.upsert_many(self.target, rows, conflict_fields, update_fields)

    async def increment(self, id: Any, field: str, amount: Number = 1, *, max_value: Any = None,
                        touch: bool = True) -> ModelT | None:
        """Add `amount` atomically (`touch=False`: leave `updated_at`, version); None if no row."""
        return cast("ModelT | None", await _counters.add_to(
            self.target, id, field, amount, bound=max_value, sign=1, touch=touch))

    async def decrement(self, id: Any, field: str, amount: Number = 1, *, min_value: Any = None,
                        touch: bool = True) -> ModelT | None:
        """Subtract `amount` atomically; the entity, or None if no row matched or bound crossed."""
        return cast("ModelT | None", await _counters.add_to(
            self.target, id, field, amount, bound=min_value, sign=-1, touch=touch))

    async def update_if(self, id: Any, conditions: Mapping[str, Any],
                        **values: Any) -> tuple[bool, ModelT | None]:
        """Update the row only if it matches `conditions` (lookups), in one statement."""
        return await _conditional.update_if(self.target, id, conditions, values)

    async def update_with_lock(self, entity: ModelT, /, **values: Any) -> ModelT:
        """Write `values` only if the row still has `entity`'s version, else a conflict error."""
        return cast("ModelT", await _conditional.update_with_lock(self.target, entity, values))

    async def select_for_update(self, id: Any, *, nowait: bool = False, skip_locked: bool = False,
                                load: Load = None) -> ModelT | None:
        """Lock the row, return its current state or None (`nowait`: `LockNotAvailableError`)."""
        return cast("ModelT | None", await _locking.select_for_update(
            self.target, id, nowait=nowait, skip_locked=skip_locked, load=load))

    async def lock_many(self, ids: Iterable[Any], *, nowait: bool = False,
                        skip_locked: bool = False, load: Load = None) -> builtins.list[ModelT]:
        """Lock the rows with these ids in primary-key order; return them in that order."""
        return await _locking.lock_many(self.target, ids, nowait=nowait, skip_locked=skip_locked,
                                        load=load)

    async def clone(self, entity: ModelT, *, exclude_fields: Iterable[str] = (),
                    **overrides: Any) -> ModelT:
        """Insert a copy of `entity` (never its key, version or timestamps) and return it."""
        return cast("ModelT", await _insert.clone(self.target, entity, exclude_fields, overrides))

    async def link(self, entity_or_id: Any, relationship: str, targets: Any) -> int:
        """Add many-to-many pairs without loading the collection; return how many were new."""
        return await _relations.link(self.target, entity_or_id, relationship, targets)

    async def unlink(self, entity_or_id: Any, relationship: str, targets: Any) -> int:
        """Remove many-to-many pairs without loading the collection; return how many went."""
        return await _relations.unlink(self.target, entity_or_id, relationship, targets)

    # -- soft delete ----------------------------------------------------------------------

    async def soft_delete(self, id: Any) -> bool:
        """Mark the row deleted; False when it is missing or already deleted."""
        return await _update.set_deleted(self.target, id, deleted=True)

    async def restore(self, id: Any) -> bool:
        """Clear the deleted mark; False when the row is missing or not deleted."""
        return await _update.set_deleted(self.target, id, deleted=False)

    def cached(self, ttl: float | None = 60) -> Self:
        """Return this repository reading through the database's cache (`ttl`: max age, s)."""
        from orm_repositories._cached import cached_repository  # it subclasses this class

        return cast("Self", cached_repository(self, ttl))

    def with_deleted(self) -> Self:
        """Return a repository of the same class that also sees soft-deleted rows."""
        return self._scoped("all")

    def only_deleted(self) -> Self:
        """Return a repository of the same class that sees only soft-deleted rows."""
        return self._scoped("deleted")

    def _scoped(self, scope: Scope) -> Self:
        clone = type(self)(self.session)
        clone.__dict__.update({k: v for k, v in self.__dict__.items() if k != "_target"})
        clone._scope = scope
        return clone
# fmt: on
