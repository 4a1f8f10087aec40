"""The row plan: how rows of field values become the parameters of an INSERT.

A `RowPlan` is made once per table, set of given fields and backend. Each given
value passes its field's `store` (the one check of a value to be written) and the
column type's bind processing; each omitted column with a Python-side default gets
it, once per statement for constants and `utcnow`, per row otherwise. Bulk inserts,
upserts and COPY all send a plan's records.

`compiled` runs the statement's compilation once per plan and statement shape, so
many rows go to the driver's executemany as plain tuples; a statement needing more
(a SQL-expression default, a bound value outside the rows) gets None and is run
through `connection.execute` with the checked rows instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect

from orm_core.checkers import ColumnChecker
from orm_core.dialects import array_parameter
from orm_core.errors import InvalidQueryError, OrmError
from orm_core.fields import Default, ModelInfo

Converter = Callable[[Any], Any]
_MAX_CACHED = 512


@dataclass(frozen=True, slots=True, eq=False)
class RowPlan:
    """Rows holding `keys` as records for `columns` (the given columns, then defaulted ones)."""

    keys: tuple[str, ...]
    columns: tuple[str, ...]
    column_keys: tuple[str, ...]
    store: tuple[Converter, ...]
    process: tuple[Converter | None, ...]
    defaults: tuple[tuple[Default, Converter | None], ...]
    python_only: bool
    default_fields: tuple[str, ...] = ()
    nulls: tuple[str, ...] = ()
    check_columns: tuple[ColumnChecker, ...] = ()

    def records(
        self, rows: Sequence[Mapping[str, Any]], *, stored: bool = False
    ) -> list[tuple[Any, ...]]:
        """Return one tuple of bind-ready values per row; `stored` rows skip the value check.

        Values are checked and bind-processed a column at a time (`FieldInfo.store_column`).

        Raises:
            InvalidQueryError: a value its field refuses, naming the row's index.
        """
        count = len(rows)
        columns: list[list[Any]] = []
        try:
            for key, check, process in zip(
                self.keys, self.check_columns, self.process, strict=True
            ):
                values = [row[key] for row in rows]
                if not stored:
                    values = check(values)
                columns.append(values if process is None else list(map(process, values)))
        except InvalidQueryError as exc:
            raise self._located(exc, rows) from exc.__cause__
        for default, process in self.defaults:
            if default.per_statement:
                value = default.produce()
                columns.append([value if process is None else process(value)] * count)
            else:
                columns.append([_made(default, process) for _ in range(count)])
        if not columns:
            return [() for _ in rows]
        return list(zip(*columns, strict=True))

    def checked(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Return the rows' stored values keyed by column key (defaults left to SQLAlchemy)."""
        plan = list(zip(self.keys, self.column_keys, self.store, strict=False))
        try:
            return [{column: store(row[key]) for key, column, store in plan} for row in rows]
        except InvalidQueryError as exc:
            raise self._located(exc, rows) from exc.__cause__

    def completed(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The rows as they will be stored, keyed by field: checked values, the Python-side
        defaults of omitted fields, and None for omitted fields nothing fills in.

        Raises:
            InvalidQueryError: a value its field refuses, naming the row's index.
        """
        made = list(zip(self.default_fields, (d for d, _process in self.defaults), strict=True))
        fixed = {key: default.produce() for key, default in made if default.per_statement}
        fixed.update(dict.fromkeys(self.nulls))
        varying = [(key, default) for key, default in made if not default.per_statement]
        plan = list(zip(self.keys, self.store, strict=True))
        try:
            return [
                {
                    **{key: store(row[key]) for key, store in plan},
                    **fixed,
                    **{key: default.produce() for key, default in varying},
                }
                for row in rows
            ]
        except InvalidQueryError as exc:
            raise self._located(exc, rows) from exc.__cause__

    def arrays(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Checked rows as one list per column, defaults filled in, named for `array_rows`.

        The lists are in `column_keys` order; SQLAlchemy bind-processes their items.
        """
        columns = [[row[key] for row in rows] for key in self.keys]
        return self.named_arrays(self.column_arrays(columns))

    def driver_arrays(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Checked rows as one list per column of bind-processed values, defaults filled in."""
        columns = [[row[key] for row in rows] for key in self.keys]
        return self.column_arrays(columns, processed=True)

    def column_arrays(self, columns: list[list[Any]], *, processed: bool = False) -> list[Any]:
        """Checked columns of the given fields, then one of each default (`column_keys` order).

        A default taken once per statement is one value, not a column (the `shared`
        positions of `Backend.array_rows`). `processed`: bind-processed for the driver.
        """
        count = len(columns[0]) if columns else 0
        arrays: list[Any] = [
            column if not processed or process is None else list(map(process, column))
            for column, process in zip(columns, self.process, strict=True)
        ]
        for default, process in self.defaults:
            convert = process if processed else None
            if default.per_statement:
                value = default.produce()
                arrays.append(value if convert is None else convert(value))
            else:
                arrays.append([_made(default, convert) for _ in range(count)])
        return arrays

    @property
    def shared(self) -> tuple[int, ...]:
        """Positions (in `column_keys`) of the defaults taken once per statement."""
        first = len(self.keys)
        return tuple(
            first + i
            for i, (default, _process) in enumerate(self.defaults)
            if default.per_statement
        )

    @staticmethod
    def named_arrays(arrays: list[Any]) -> dict[str, Any]:
        """The arrays as the parameters of `Backend.array_rows`."""
        return {array_parameter(i): values for i, values in enumerate(arrays)}

    def check(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Return one row's stored values keyed by field."""
        return {key: store(row[key]) for key, store in zip(self.keys, self.store, strict=True)}

    def _located(self, exc: InvalidQueryError, rows: Sequence[Mapping[str, Any]]) -> OrmError:
        """The same error, naming the index of the first row that fails."""
        for index, row in enumerate(rows):
            try:
                self.check(row)
            except InvalidQueryError:
                details = {**exc.details, "row": index}
                return InvalidQueryError(f"row {index}: {exc.message}", details)
        return exc


def row_plan(info: ModelInfo, table: Table, dialect: Dialect, keys: tuple[str, ...]) -> RowPlan:
    """Return (and cache) the plan for rows holding the fields `keys`.

    Raises:
        InvalidQueryError: a key that is not a field of the model.
    """
    cache_key = (table, keys, id(dialect))
    plan = _PLANS.get(cache_key)
    if plan is None:
        if len(_PLANS) >= _MAX_CACHED:
            _PLANS.clear()
        plan = _PLANS[cache_key] = _build_plan(info, dialect, keys)
    return plan


_PLANS: dict[tuple[Any, ...], RowPlan] = {}


def _build_plan(info: ModelInfo, dialect: Dialect, keys: tuple[str, ...]) -> RowPlan:
    fields = [info.field(k) for k in keys]
    given = {f.column.key for f in fields}
    process = [f.column.type._cached_bind_processor(dialect) for f in fields]
    omitted = [f for f in info.fields.values() if f.column.key not in given]
    python_only = all(f.python_default_only for f in omitted)
    # records put the defaults taken once per statement before the per-row ones
    filled = sorted(
        (f for f in omitted if f.default is not None),
        key=lambda f: not f.default.per_statement,  # type: ignore[union-attr]
    )
    defaults = [(f.default, f.column.type._cached_bind_processor(dialect)) for f in filled]
    nulls = [f.key for f in omitted if f.null_when_omitted]
    defaulted = [f.column.name for f in filled]
    defaulted_keys = [f.column.key for f in filled]
    return RowPlan(
        keys=keys,
        columns=tuple([f.column.name for f in fields] + defaulted),
        column_keys=tuple([f.column.key for f in fields] + defaulted_keys),
        store=tuple(f.store for f in fields),
        process=tuple(process),
        defaults=tuple((d, p) for d, p in defaults if d is not None),
        python_only=python_only,
        default_fields=tuple(f.key for f in filled),
        nulls=tuple(nulls),
        check_columns=tuple(f.store_column for f in fields),
    )


@dataclass(frozen=True, slots=True)
class CompiledInsert:
    """An INSERT compiled once, and where each of its parameters sits in a record."""

    sql: str
    names: tuple[str, ...]
    order: tuple[int, ...] | None
    positional: bool

    def parameters(self, records: list[tuple[Any, ...]]) -> list[Any]:
        """The driver's parameter sets for `records`."""
        order = self.order
        if not self.positional:
            names = self.names
            assert order is not None
            return [dict(zip(names, [r[i] for i in order], strict=True)) for r in records]
        if order is None:
            return records
        return [tuple([r[i] for i in order]) for r in records]


_COMPILED: dict[tuple[Any, ...], CompiledInsert | None] = {}


def compiled(
    plan: RowPlan, statement: Any, dialect: Dialect, shape: tuple[Any, ...]
) -> CompiledInsert | None:
    """Compile `statement` for the plan's columns (cached by `shape`); None if it cannot be."""
    cache_key = (id(plan), id(dialect), shape)
    if cache_key in _COMPILED:
        return _COMPILED[cache_key]
    if len(_COMPILED) >= _MAX_CACHED:
        _COMPILED.clear()
    found = _COMPILED[cache_key] = _compile(plan, statement, dialect)
    return found


def _compile(plan: RowPlan, statement: Any, dialect: Dialect) -> CompiledInsert | None:
    result = statement.compile(
        dialect=dialect, column_keys=list(plan.column_keys), for_executemany=True
    )
    if "POSTCOMPILE" in result.string or getattr(result, "effective_returning", None):
        return None
    names = tuple(result.positiontup if result.positional else result.binds)
    index = {key: i for i, key in enumerate(plan.column_keys)}
    if any(name not in index for name in names):
        return None  # a bound value outside the rows, such as a literal in an update clause
    order = tuple(index[n] for n in names)
    identity = result.positional and order == tuple(range(len(plan.column_keys)))
    return CompiledInsert(result.string, names, None if identity else order, result.positional)


@dataclass(frozen=True, slots=True)
class CompiledArrays:
    """A statement over column arrays compiled once: its SQL and which array each
    positional parameter takes."""

    sql: str
    order: tuple[int, ...]

    def parameters(self, arrays: list[Any]) -> tuple[Any, ...]:
        """The driver's parameters for the plan's column arrays."""
        return tuple(arrays[i] for i in self.order)


_COMPILED_ARRAYS: dict[tuple[Any, ...], CompiledArrays | None] = {}


def compiled_arrays(
    plan: RowPlan, statement: Any, dialect: Dialect, shape: tuple[Any, ...]
) -> CompiledArrays | None:
    """Compile a statement over `Backend.array_rows` once (cached by `shape`).

    None when a parameter is not one of the arrays (a value bound in the statement
    itself) or the driver takes named parameters: the caller lets SQLAlchemy run it.
    """
    cache_key = (id(plan), id(dialect), shape)
    if cache_key in _COMPILED_ARRAYS:
        return _COMPILED_ARRAYS[cache_key]
    if len(_COMPILED_ARRAYS) >= _MAX_CACHED:
        _COMPILED_ARRAYS.clear()
    found = None
    result = statement.compile(dialect=dialect)
    index = {array_parameter(i): i for i in range(len(plan.column_keys))}
    names = tuple(result.positiontup or ()) if result.positional else ()
    if names and all(name in index for name in names) and "POSTCOMPILE" not in result.string:
        found = CompiledArrays(result.string, tuple(index[name] for name in names))
    _COMPILED_ARRAYS[cache_key] = found
    return found


def batches(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Split `rows` into lists of at most `size`."""
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def grouped(rows: Sequence[Any]) -> dict[tuple[str, ...], list[Mapping[str, Any]]]:
    """Group rows by their key set (each set is checked once against the model).

    Raises:
        InvalidQueryError: a row that is not a mapping.
    """
    if rows and type(rows) is list and set(map(type, rows)) == {dict}:
        # the usual call, dicts holding the same fields: grouped in C-level passes
        key_sets = set(map(tuple, rows))
        if len(key_sets) == 1:
            return {next(iter(key_sets)): rows}
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        if type(row) is not dict and not isinstance(row, Mapping):
            raise InvalidQueryError("bulk rows must be dicts of field values")
        keys = tuple(row)
        group = groups.get(keys)
        if group is None:
            group = groups[keys] = []
        group.append(row)
    return groups


def _made(default: Default, process: Converter | None) -> Any:
    value = default.produce()
    return value if process is None or value is None else process(value)
