"""Fill tables with fake rows through `AsyncRepository.bulk_create`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table, delete, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from orm_core import Database, UnitOfWork
from orm_core.errors import InvalidQueryError
from orm_core.translate import translate
from orm_repositories.factories import ModelFactory
from orm_repositories.repository import DEFAULT_BATCH_SIZE, AsyncRepository

__all__ = ["ModelFactory", "seed"]

# How many existing parent keys a foreign key column picks its values from.
MAX_REFERENCES = 10_000


async def seed(
    database: Database,
    model: type[Any],
    count: int,
    *,
    factory: ModelFactory[Any] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    truncate: bool = False,
) -> int:
    """Insert `count` fake rows of `model` in one transaction; return how many were inserted.

    Foreign keys point at existing rows of the referenced tables (seed parents
    first). `progress` is called with the number of rows of each finished batch.
    `truncate` first deletes every row of the model's table, in the same transaction
    (soft-deletable rows too); it refuses while another table's rows reference them.

    Raises:
        InvalidQueryError: a bad count or batch size, a column no value can be made
            for, a required foreign key whose table is empty, or (`truncate`) rows of
            another table that reference the table.
        DatabaseUnavailableError: the database cannot be reached.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InvalidQueryError("count must be a non-negative integer")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidQueryError("batch_size must be a positive integer")
    factory = factory or ModelFactory.for_model(model)()
    inserted = 0
    async with UnitOfWork(database) as uow:
        repository: AsyncRepository[Any] = AsyncRepository.for_model(model)(uow.session)
        if truncate:
            await _empty(uow.session, factory.model)
        references = await _references(uow.session, factory)
        while inserted < count:
            size = min(batch_size, count - inserted)
            rows = factory.iter_rows(size, references)
            done = await repository.bulk_create(rows, batch_size=size)
            inserted += done
            if progress is not None:
                progress(done)
    return inserted


async def _empty(session: AsyncSession, model: type[Any]) -> None:
    """Delete every row of `model`'s table, unless another table's rows point at them.

    Deleting would cascade to (or fail on) those rows, which nobody asked to lose.
    """
    table: Table = model.__table__
    for child in table.metadata.tables.values():
        if child is table or not any(fk.column.table is table for fk in child.foreign_keys):
            continue
        try:
            referenced = await session.scalar(select(literal(1)).select_from(child).limit(1))
        except Exception as exc:
            raise translate(exc) from exc
        if referenced is not None:
            raise InvalidQueryError(
                f"cannot truncate {table.name}: rows of {child.name} reference it; "
                f"empty {child.name} first"
            )
    try:
        await session.execute(delete(table))
    except Exception as exc:
        raise translate(exc) from exc


async def _references(
    session: AsyncSession, factory: ModelFactory[Any]
) -> dict[str, Sequence[Any]]:
    """Read up to MAX_REFERENCES existing keys for each foreign key column."""
    references: dict[str, Sequence[Any]] = {}
    for column in factory.foreign_keys:
        target = next(iter(column.foreign_keys)).column
        try:
            result = await session.execute(select(target).distinct().limit(MAX_REFERENCES))
        except Exception as exc:
            raise translate(exc) from exc
        values = list(result.scalars())
        if not values and not column.nullable:
            raise InvalidQueryError(
                f"cannot seed {factory.model.__name__}: {target.table.name} has no rows for "
                f"{column.key} to reference; seed it first"
            )
        references[column.key] = values
    return references
