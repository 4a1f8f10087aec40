"""Record the SQL a block sends, to prove statement counts and "no SQL at all"."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, inspect

from orm_core import Database
from orm_core.fields import model_info

_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA", "SELECT PG_")


@dataclass
class Recorded:
    """Statements seen by `before_cursor_execute`, with their parameter counts."""

    statements: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def queries(self) -> list[str]:
        """The statements that are not transaction control."""
        return [s for s, _, _ in self.statements if not s.lstrip().upper().startswith(_CONTROL)]

    @property
    def max_params(self) -> int:
        """The most bind parameters one statement carried."""
        return max((n for _, n, _ in self.statements), default=0)


def _param_count(parameters: Any, executemany: bool) -> tuple[int, int]:
    if executemany:
        sets = list(parameters)
        return (len(sets[0]) if sets else 0), len(sets)
    return (len(parameters) if parameters else 0), 1


@contextmanager
def recorded(database: Database) -> Iterator[Recorded]:
    """Record every statement sent to `database` inside the block."""
    log = Recorded()

    def on_execute(conn, cursor, statement, parameters, context, executemany):
        count, sets = _param_count(parameters, executemany)
        log.statements.append((statement, count, sets))

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def read_every_column(entity: Any) -> dict[str, Any]:
    """Read every column attribute, as a caller would after the unit of work closed."""
    assert not (inspect(entity).unloaded & set(model_info(type(entity)).fields))
    return {key: getattr(entity, key) for key in model_info(type(entity)).fields}
