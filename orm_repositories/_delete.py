"""The delete path: one builder for every DELETE the framework emits.

Deletes are statements, not ORM `session.delete()` calls: the database applies the
children's foreign-key actions (`ON DELETE CASCADE`, `SET NULL`), and the ORM never
tries to null out a child's key first. Entities the session holds for deleted rows
are removed from it. When a delete must be reported (write events, an audit trail),
the rows are read and locked first, so their keys (and old values) are exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete
from sqlalchemy.sql.dml import Delete

from orm_repositories._changes import after, before, key_fields, locked_rows, wanted
from orm_repositories._keys import chunks, pk_in
from orm_repositories._select import scope_criteria
from orm_repositories._target import Target, execute_write, flush


def delete_statement(target: Target, conditions: Sequence[Any]) -> Delete:
    """`DELETE FROM model WHERE scope AND conditions`."""
    statement = delete(target.model).where(*scope_criteria(target), *conditions)
    return statement.execution_options(synchronize_session="fetch")


async def delete_where(
    target: Target, conditions: Sequence[Any], *, keys: Sequence[Any] | None = None
) -> int:
    """Delete every row matching `conditions`; return how many went.

    `keys` are the ids a key-based call was given (for its `before_delete` event).
    """
    await flush(target)
    want = wanted(target, "delete")
    await before(target, "delete", [key_fields(target.info, k) for k in keys] if keys else [{}])
    if not want.changes:
        result = await execute_write(target, delete_statement(target, conditions))
        return int(result.rowcount)  # type: ignore[attr-defined]
    old = await locked_rows(target, conditions, columns=want.audit)
    found = list(old)
    for chunk in chunks(target, found):
        await execute_write(target, delete_statement(target, [pk_in(target, chunk)]))
    await after(target, "delete", [(k, old[k] if want.audit else None, None) for k in found])
    return len(found)


async def delete_keys(target: Target, keys: Sequence[Any]) -> int:
    """Delete the rows with these (checked) keys, chunked under the bind limit."""
    deleted = 0
    for chunk in chunks(target, keys):
        deleted += await delete_where(target, [pk_in(target, chunk)], keys=chunk)
    return deleted
