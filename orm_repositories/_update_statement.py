"""The one UPDATE builder: every UPDATE the framework emits is built here.

`update_statement` applies the scope criteria and the managed values (`updated_at`,
the version bump) and asks for RETURNING where the backend has it. A rule every
UPDATE must follow goes here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import update

from orm_repositories._managed import managed_values
from orm_repositories._materialize import core_returning, returned_columns
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
    whose row is read back as the entity (`_materialize.fetch_updated` on a single
    table, an ORM `RETURNING` otherwise).
    """
    info = target.info
    extra = managed_values(info, values, touch=touch) if managed is None else managed
    assignments = {**values, **extra}
    where = [*scope_criteria(target), *conditions]
    if core:
        columns = {info.fields[k].column.key: v for k, v in assignments.items()}
        return update(target.table).where(*where).values(columns)
    if returning and core_returning(target):
        # a Core UPDATE … RETURNING: `_materialize.fetch_updated` turns its row into the
        # entity without the ORM's bulk-update bookkeeping or per-query loader
        columns = {info.fields[k].column.key: v for k, v in assignments.items()}
        written = update(target.table).where(*where).values(columns)
        return written.returning(*returned_columns(info))
    attributes = {info.fields[k].attribute: v for k, v in assignments.items()}
    statement = update(target.model).where(*where).values(attributes)
    if returning and target.backend.update_returning:
        statement = statement.returning(target.model)
    return statement
