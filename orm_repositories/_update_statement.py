"""The one UPDATE builder: every UPDATE the framework emits is built here.

`update_statement` applies the scope criteria and the managed values (`updated_at`,
the version bump) and asks for RETURNING where the backend has it. A rule every
UPDATE must follow goes here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select, update

from orm_repositories._managed import managed_values
from orm_repositories._select import scope_criteria
from orm_repositories._target import Target

SYNCED = {"populate_existing": True, "synchronize_session": False}


def update_statement(
    target: Target,
    conditions: Sequence[Any],
    values: Mapping[str, Any],
    *,
    touch: bool = True,
    managed: Mapping[str, Any] | None = None,
    core: bool = False,
    returning: bool = False,
) -> Any:
    """`UPDATE model SET values + managed values WHERE scope AND conditions [RETURNING *]`.

    `values` are keyed by field and may be SQL expressions or bind parameters;
    `managed` replaces the managed values (a cached statement binds them per call);
    `core` builds a Core UPDATE of the table, for executemany; `returning` an UPDATE
    whose rows are read back as entities.
    """
    info = target.info
    extra = managed_values(info, values, touch=touch) if managed is None else managed
    assignments = {**values, **extra}
    where = [*scope_criteria(target), *conditions]
    if core:
        columns = {info.fields[k].column.key: v for k, v in assignments.items()}
        return update(target.table).where(*where).values(columns)
    if returning and target.backend.update_returning and info.table is not None:
        # a Core UPDATE … RETURNING loaded as a SELECT's rows would be: none of the ORM's
        # bulk-update bookkeeping runs between the write and the caller (nor the COMMIT)
        columns = {info.fields[k].column.key: v for k, v in assignments.items()}
        table = info.table
        # the mapped columns only: a generated column (a search vector) is never read
        mapped = [field.column for field in info.fields.values()]
        written = update(table).where(*where).values(columns).returning(*mapped)
        return select(target.model).from_statement(written)
    attributes = {info.fields[k].attribute: v for k, v in assignments.items()}
    statement = update(target.model).where(*where).values(attributes)
    if returning and target.backend.update_returning:
        statement = statement.returning(target.model)
    return statement
