"""The delete path: one builder for every DELETE the framework emits.

Deletes are statements, not ORM `session.delete()` calls: the database applies the
children's foreign-key actions (`ON DELETE CASCADE`, `SET NULL`), and the ORM never
tries to null out a child's key first. Entities the session holds for deleted rows
are removed from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete
from sqlalchemy.sql.dml import Delete

from orm_repositories._keys import chunks, pk_in
from orm_repositories._select import scope_criteria
from orm_repositories._target import Target, execute_write, flush


def delete_statement(target: Target, conditions: Sequence[Any]) -> Delete:
    """`DELETE FROM model WHERE scope AND conditions`."""
    statement = delete(target.model).where(*scope_criteria(target), *conditions)
    return statement.execution_options(synchronize_session="fetch")


async def delete_where(target: Target, conditions: Sequence[Any]) -> int:
    """Delete every row matching `conditions`; return how many went."""
    await flush(target)
    result = await execute_write(target, delete_statement(target, conditions))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def delete_keys(target: Target, keys: Sequence[Any]) -> int:
    """Delete the rows with these (checked) keys, chunked under the bind limit."""
    deleted = 0
    for chunk in chunks(target, keys):
        deleted += await delete_where(target, [pk_in(target, chunk)])
    return deleted
