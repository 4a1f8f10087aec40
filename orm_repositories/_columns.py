"""Rows checked a column at a time: grouped by the fields they hold, each column in one go.

Bulk writes receive rows (dicts) but check and send columns: a column of text or
integers is checked in a few passes the interpreter runs in C (`FieldInfo.store_column`),
and a statement over column arrays takes the columns as they are. A refused value is
reported as the value-by-value check would: the first failing row, by its index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from orm_core.errors import InvalidQueryError
from orm_core.fields import ModelInfo

Stamp = Callable[[Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Checked:
    """The rows as given, and for each set of fields their positions and checked columns."""

    rows: list[Mapping[str, Any]]
    groups: dict[tuple[str, ...], tuple[list[int], list[list[Any]]]]


def checked_columns(
    info: ModelInfo,
    rows: Iterable[Mapping[str, Any]],
    required: list[str],
    *,
    stamp: Stamp | None = None,
    what: str = "bulk",
) -> Checked:
    """Group rows by the fields they hold and check each group's columns.

    Raises:
        InvalidQueryError: a row that is no dict, lacks a `required` field, names an
            unknown field or holds a value its field refuses (naming the row's index).
    """
    listed: list[Mapping[str, Any]] = []
    positions: dict[tuple[str, ...], list[int]] = {}
    given = rows if type(rows) is list else None
    if given and stamp is None and set(map(type, given)) == {dict}:
        # the usual call, a list of dicts holding the same fields: checked in C-level passes
        key_sets = set(map(tuple, given))
        if len(key_sets) == 1:
            listed, positions = given, {next(iter(key_sets)): list(range(len(given)))}
            _check_fields(info, positions, required, what)
            rows = ()
    for index, row in enumerate(rows):
        if type(row) is not dict and not isinstance(row, Mapping):
            raise InvalidQueryError(f"{what} rows must be dicts of field values")
        if stamp is not None:
            row = stamp(row)
        listed.append(row)
        keys = tuple(row)
        found = positions.get(keys)
        if found is None:
            missing = [k for k in required if k not in row]
            if missing:
                raise InvalidQueryError(
                    f"every {what} row needs its conflict fields; missing {missing}"
                )
            for key in keys:
                info.field(key)
            found = positions[keys] = []
        found.append(index)
    groups: dict[tuple[str, ...], tuple[list[int], list[list[Any]]]] = {}
    try:
        for keys, where in positions.items():
            group = listed if len(positions) == 1 else [listed[i] for i in where]
            columns = [info.fields[k].store_column(list(map(itemgetter(k), group))) for k in keys]
            groups[keys] = (where, columns)
    except InvalidQueryError:
        _locate_failure(info, listed)
        raise
    return Checked(listed, groups)


def _check_fields(
    info: ModelInfo, positions: dict[tuple[str, ...], list[int]], required: list[str], what: str
) -> None:
    """Check each set of fields: known fields, holding every `required` one."""
    for keys in positions:
        missing = [k for k in required if k not in keys]
        if missing:
            raise InvalidQueryError(
                f"every {what} row needs its conflict fields; missing {missing}"
            )
        for key in keys:
            info.field(key)


def last_of_each_key(
    keys: tuple[str, ...], columns: list[list[Any]], names: list[str]
) -> tuple[list[tuple[Any, ...]], list[list[Any]]]:
    """Keep the last row of each value of the `names` fields, in the place of its first row.

    Returns the distinct key values and the columns without the rows they replace.
    """
    found = list(zip(*[columns[keys.index(name)] for name in names], strict=True))
    last = dict(zip(found, range(len(found)), strict=True))
    if len(last) == len(found):
        return found, columns
    kept = list(last.values())
    return list(last), [[column[i] for i in kept] for column in columns]


def collapsed_rows(checked: Checked, names: list[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The checked rows as dicts, keyed by their `names` values; the last row of a key wins."""
    rows: list[dict[str, Any]] = [{}] * len(checked.rows)
    conflict_keys: list[tuple[Any, ...]] = [()] * len(checked.rows)
    for keys, (where, columns) in checked.groups.items():
        made = [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)]
        found = list(zip(*[columns[keys.index(name)] for name in names], strict=True))
        if len(checked.groups) == 1:
            rows, conflict_keys = made, found
            break
        for position, row, key in zip(where, made, found, strict=True):
            rows[position], conflict_keys[position] = row, key
    # the last row of a key wins, in the place of the key's first row
    return dict(zip(conflict_keys, rows, strict=True))


def _locate_failure(info: ModelInfo, rows: list[Mapping[str, Any]]) -> None:
    """Raise the error of the first row a field refuses, naming its index."""
    for index, row in enumerate(rows):
        try:
            for key, value in row.items():
                info.fields[key].store(value)
        except InvalidQueryError as exc:
            raise InvalidQueryError(
                f"row {index}: {exc.message}", {**exc.details, "row": index}
            ) from exc
