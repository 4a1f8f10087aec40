"""`AsyncRepository[T]`: every public data-access method for one model, in one class.

Each method checks its arguments and delegates to the module that owns its concern:
`_select` (scoped criteria), `_reads`, `_insert` and `_rows` (the insert path),
`_update` (the one UPDATE builder), `_delete`, `_upsert`, `_counters`,
`_conditional`, `_locking`, `_sampling`, `_keyset`, `_streaming`, `_aggregate`.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable, Mapping
from decimal import Decimal
from typing import Any, ClassVar, Generic, Self, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from orm_core.errors import InvalidQueryError
from orm_core.fields import ModelInfo, model_info
from orm_core.generic import bound_to_model, is_model
from orm_core.pagination import CursorPage, Page
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
    _sampling,
    _streaming,
    _update,
    _upsert,
)
from orm_repositories._keys import pk_equals, pk_of, pk_value, pk_values
from orm_repositories._reads import CountMode, not_found
from orm_repositories._select import conditions, criteria, required_conditions
from orm_repositories._target import Scope, Target
from orm_repositories._values import check_entity, check_values

ModelT = TypeVar("ModelT", bound=Any)
DEFAULT_BATCH_SIZE = 5_000


class AsyncRepository(Generic[ModelT]):
    """Data access for one model; the model comes from the type argument.

    Example:
        class ProductRepository(AsyncRepository[Product]):
            async def cheapest(self, n: int) -> list[Product]:
                return await self.list(order_by="price", limit=n)

        products = ProductRepository(session)          # or uow.products
        widget = await products.create(sku="A-1", name="Widget", price=Decimal("9.99"))

    `AsyncRepository[Product]` is itself a class bound to `Product`, so it can be
    instantiated, annotated on a unit of work or handed to `crud_router`.
    Soft-deleted rows of `SoftDeleteMixin` models are excluded from every read.
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

    async def get(self, id: Any) -> ModelT | None:
        """Return the row with this primary key (a tuple for composite keys), or None."""
        entity: ModelT | None = await _reads.get(self.target, id)
        return entity

    async def get_one(self, id: Any) -> ModelT:
        """Return the row with this primary key.

        Raises:
            NotFoundError: no such row (or it is soft-deleted).
        """
        entity = await self.get(id)
        if entity is None:
            raise not_found(self.target, {"id": id})
        return entity

    async def get_many(self, ids: Iterable[Any], *, preserve_order: bool = False) -> list[ModelT]:
        """Return the rows with these ids in one query; missing ids are skipped."""
        return await _reads.get_many(self.target, ids, preserve_order)

    async def exists(self, *where: Any, **lookups: Any) -> bool:
        """Tell whether any row matches."""
        return await _reads.exists(self.target, where, lookups)

    async def exists_many(self, ids: Iterable[Any]) -> dict[Any, bool]:
        """Map each id (lists become tuples) to whether its row exists, in one query."""
        return await _reads.exists_many(self.target, ids)

    async def count(self, *where: Any, **lookups: Any) -> int:
        """Count the matching rows."""
        return await _reads.count(self.target, criteria(self.target, where, lookups))

    async def list(
        self,
        *where: Any,
        order_by: Any = None,
        limit: int | None = None,
        offset: int | None = None,
        **lookups: Any,
    ) -> builtins.list[ModelT]:
        """Return the matching rows, ordered and sliced as asked."""
        return await _reads.list_rows(self.target, where, lookups, order_by, limit, offset)

    async def first(self, *where: Any, order_by: Any = None, **lookups: Any) -> ModelT | None:
        """Return the first matching row (by primary key unless `order_by` is given)."""
        entity: ModelT | None = await _reads.first(self.target, where, lookups, order_by)
        return entity

    async def paginate(
        self,
        *where: Any,
        page: int = 1,
        page_size: int = 20,
        order_by: Any = None,
        count: CountMode = "exact",
        **lookups: Any,
    ) -> Page[ModelT]:
        """Return one page of matching rows and their total.

        `count="estimate"` takes the planner's estimate on PostgreSQL, `count="none"`
        skips counting (`total` is None); `has_next` is always right.

        Raises:
            InvalidQueryError: page below 1, page size outside 1..`max_page_size`.
        """
        return await _reads.paginate(
            self.target, where, lookups, page=page, page_size=page_size, order_by=order_by,
            count_mode=count, max_page_size=self.max_page_size,
        )  # fmt: skip

    async def paginate_cursor(
        self,
        *where: Any,
        after: str | None = None,
        limit: int = 20,
        order_by: Any = "id",
        **lookups: Any,
    ) -> CursorPage[ModelT]:
        """Return the keyset page after the signed cursor `after` (the first page when None).

        Raises:
            InvalidQueryError: a forged, truncated or foreign cursor, or a bad limit.
        """
        return await _keyset.paginate_cursor(
            self.target, where, lookups, after=after, limit=limit, order_by=order_by,
            max_page_size=self.max_page_size,
        )  # fmt: skip

    def stream(
        self, *where: Any, batch_size: int = 1000, order_by: Any = None, **lookups: Any
    ) -> AsyncIterator[ModelT]:
        """Yield the matching rows through a server-side cursor, `batch_size` in memory."""
        return _streaming.stream(
            self.target, where, lookups, batch_size=batch_size, order_by=order_by
        )

    async def aggregate(
        self,
        *where: Any,
        group_by: str | builtins.list[str] | tuple[str, ...] = (),
        count: bool | str | builtins.list[str] | None = None,
        sum: str | builtins.list[str] | None = None,
        avg: str | builtins.list[str] | None = None,
        min: str | builtins.list[str] | None = None,
        max: str | builtins.list[str] | None = None,
        having: Mapping[str, Any] | None = None,
        **lookups: Any,
    ) -> builtins.list[dict[str, Any]]:
        """Return one dict per group of COUNT/SUM/AVG/MIN/MAX results (see docs/reading.md)."""
        functions = {"sum": sum, "avg": avg, "min": min, "max": max}
        return await _aggregate.aggregate(
            self.target, where, lookups, group_by=group_by, count=count,
            functions=functions, having=having,
        )  # fmt: skip

    async def random(self, *where: Any, **lookups: Any) -> ModelT | None:
        """Return one uniformly drawn matching row, or None."""
        rows = await self.sample(1, *where, **lookups)
        return rows[0] if rows else None

    async def sample(self, n: int, *where: Any, **lookups: Any) -> builtins.list[ModelT]:
        """Return `n` distinct matching rows drawn uniformly (all of them when fewer match)."""
        return await _sampling.sample(self.target, n, criteria(self.target, where, lookups))

    # -- writing --------------------------------------------------------------------------

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
        """Insert a row built from field values and return it.

        Raises:
            InvalidQueryError: an unknown field or a bad value.
            DuplicateError: a unique constraint was violated.
        """
        entity: ModelT = await _insert.create(self.target, values)
        return entity

    async def bulk_create(
        self, rows: Iterable[Mapping[str, Any]], *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> int:
        """Insert rows given as dicts without ORM objects; return how many were inserted.

        All or nothing: a bad row (named by its index) leaves nothing of the call written.
        """
        return await _insert.bulk_create(self.target, rows, batch_size)

    async def update(self, id: Any, /, **values: Any) -> ModelT:
        """Set fields on the row with this id in one UPDATE; return the updated entity.

        Raises:
            NotFoundError: no such row.
        """
        checked = check_values(self.info, values, allow_pk=False)
        if not checked or any(k in self.info.relationships for k in checked):
            return await self.update_fields(await self.get_one(id), **checked)
        entity: ModelT | None = await _update.update_one(
            self.target, pk_value(self.info, id), checked
        )
        if entity is None:
            raise not_found(self.target, {"id": id})
        return entity

    async def update_fields(self, entity: ModelT, /, **values: Any) -> ModelT:
        """Set fields on an entity's row (re-read first if it belongs to another session).

        Raises:
            NotFoundError: the row no longer exists.
            ConcurrentModificationError: a `VersionMixin` row changed since it was read.
        """
        check_entity(self.info, entity)
        checked = check_values(self.info, values, allow_pk=False)
        if entity not in self.session:
            entity = await self.get_one(pk_of(self.info, entity))
        updated: ModelT = await _update.update_entity(self.target, entity, checked)
        return updated

    async def bulk_update(self, rows: Iterable[Mapping[str, Any]]) -> int:
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
        checked = check_values(self.info, values, allow_pk=False)
        required_conditions(where, lookups, "update_where")
        return await _update.update_where(
            self.target, conditions(self.target, where, lookups), checked
        )

    async def delete(self, id: Any) -> bool:
        """Delete the row with this id (soft-deleted or not); return whether it existed."""
        ident = pk_value(self.info, id)
        target = self.target.widened("all")
        return await _delete.delete_where(target, [pk_equals(self.info, ident)]) > 0

    async def bulk_delete(self, ids: Iterable[Any]) -> int:
        """Delete the rows with these ids; return how many went."""
        return await _delete.delete_keys(self.target.widened("all"), pk_values(self.info, ids))

    async def delete_where(self, *where: Any, **lookups: Any) -> int:
        """Delete every matching row; pass `sqlalchemy.true()` to delete every row."""
        required_conditions(where, lookups, "delete_where")
        return await _delete.delete_where(self.target, conditions(self.target, where, lookups))

    async def get_or_create(
        self, defaults: Mapping[str, Any] | None = None, **lookups: Any
    ) -> tuple[ModelT, bool]:
        """Return `(row, False)` for the row matching `lookups`, else insert it: `(row, True)`."""
        return await _get_or_create.get_or_create(self.target, defaults, lookups)

    async def update_or_create(
        self, defaults: Mapping[str, Any] | None = None, **lookups: Any
    ) -> tuple[ModelT, bool]:
        """Update the row matching `lookups` with `defaults`, or insert it; `(row, created)`."""
        return await _get_or_create.update_or_create(self.target, defaults, lookups)

    async def upsert(
        self,
        *,
        conflict_fields: builtins.list[str] | tuple[str, ...] | str,
        update_fields: builtins.list[str] | tuple[str, ...] | None = None,
        **values: Any,
    ) -> ModelT:
        """Insert a row, or update the row with the same `conflict_fields`; return it.

        Raises:
            InvalidQueryError: conflict fields that are no unique key, or a bad value.
        """
        entity: ModelT = await _upsert.upsert(self.target, values, conflict_fields, update_fields)
        return entity

    async def upsert_many(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        conflict_fields: builtins.list[str] | tuple[str, ...] | str,
        update_fields: builtins.list[str] | tuple[str, ...] | None = None,
    ) -> int:
        """Upsert many rows (a key repeated counts once, the last wins); return the count."""
        return await _upsert.upsert_many(self.target, rows, conflict_fields, update_fields)

    async def increment(
        self,
        id: Any,
        field: str,
        amount: int | float | Decimal = 1,
        *,
        max_value: Any = None,
        touch: bool = True,
    ) -> ModelT | None:
        """Add `amount` atomically; the entity with the new value, or None if no row matched.

        `touch=False` leaves `updated_at` and the version alone.
        """
        entity: ModelT | None = await _counters.add_to(
            self.target, id, field, amount, bound=max_value, sign=1, touch=touch
        )
        return entity

    async def decrement(
        self,
        id: Any,
        field: str,
        amount: int | float | Decimal = 1,
        *,
        min_value: Any = None,
        touch: bool = True,
    ) -> ModelT | None:
        """Subtract `amount` atomically; the entity, or None if no row matched or bound crossed."""
        entity: ModelT | None = await _counters.add_to(
            self.target, id, field, amount, bound=min_value, sign=-1, touch=touch
        )
        return entity

    async def update_if(
        self, id: Any, conditions: Mapping[str, Any], **values: Any
    ) -> tuple[bool, ModelT | None]:
        """Update the row only if it matches `conditions` (lookups), in one statement."""
        return await _conditional.update_if(self.target, id, conditions, values)

    async def update_with_lock(self, entity: ModelT, /, **values: Any) -> ModelT:
        """Write `values` only if the row still has the version `entity` was read at.

        Raises:
            ConcurrentModificationError: the row changed (or went) since it was read.
        """
        updated: ModelT = await _conditional.update_with_lock(self.target, entity, values)
        return updated

    async def select_for_update(
        self, id: Any, *, nowait: bool = False, skip_locked: bool = False
    ) -> ModelT | None:
        """Lock the row with this id and return its current state, or None.

        Raises:
            LockNotAvailableError: `nowait=True` and another transaction holds the lock.
        """
        entity: ModelT | None = await _locking.select_for_update(
            self.target, id, nowait=nowait, skip_locked=skip_locked
        )
        return entity

    async def lock_many(
        self, ids: Iterable[Any], *, nowait: bool = False, skip_locked: bool = False
    ) -> builtins.list[ModelT]:
        """Lock the rows with these ids in primary-key order; return them in that order."""
        return await _locking.lock_many(self.target, ids, nowait=nowait, skip_locked=skip_locked)

    async def clone(
        self, entity: ModelT, *, exclude_fields: Iterable[str] = (), **overrides: Any
    ) -> ModelT:
        """Insert a copy of `entity` (never its key, version or timestamps) and return it."""
        copied: ModelT = await _insert.clone(self.target, entity, exclude_fields, overrides)
        return copied

    # -- soft delete ----------------------------------------------------------------------

    async def soft_delete(self, id: Any) -> bool:
        """Mark the row deleted; False when it is missing or already deleted."""
        return await self._set_deleted(id, deleted=True)

    async def restore(self, id: Any) -> bool:
        """Clear the deleted mark; False when the row is missing or not deleted."""
        return await self._set_deleted(id, deleted=False)

    def with_deleted(self) -> Self:
        """Return a repository of the same class that also sees soft-deleted rows."""
        return self._scoped("all")

    def only_deleted(self) -> Self:
        """Return a repository of the same class that sees only soft-deleted rows."""
        return self._scoped("deleted")

    async def _set_deleted(self, id: Any, *, deleted: bool) -> bool:
        target = self.target.widened("all")
        condition, values = _update.soft_delete_values(target, deleted=deleted)
        ident = pk_value(self.info, id)
        return await _update.update_one(target, ident, values, condition) is not None

    def _scoped(self, scope: Scope) -> Self:
        clone = type(self)(self.session)
        clone.__dict__.update({k: v for k, v in self.__dict__.items() if k != "_target"})
        clone._scope = scope
        return clone
