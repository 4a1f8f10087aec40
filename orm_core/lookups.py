"""Turn `field__op=value` lookups, relationship paths included, into SQL conditions.

A key walks relationships before its field and operator: `author__username="jake"`,
`tags__name__in=[...]`, `comments__author__username__icontains="ja"`. Every step is an
EXISTS (`has()` for to-one, `any()` for collections), so a row never comes back twice.
As in Django's `filter()`, the lookups of one call that go through the same collection
must hold for the same related row; `ne` and `not_in` through a collection mean "no
related row equals" (Django's `exclude`). Every name and value is checked against the
models first, so a typo or a value of the wrong type fails before any SQL runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, true
from sqlalchemy import inspect as orm_inspect
from sqlalchemy.orm import Mapper, RelationshipProperty

from orm_core.checkers import OutOfRange
from orm_core.errors import InvalidQueryError
from orm_core.fields import FieldInfo, compared_value, is_sql, model_info
from orm_core.json_sql import JSON_OPERATORS, JsonPath, JsonSql

OPERATORS: tuple[str, ...] = (
    "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "icontains",
    "startswith", "istartswith", "endswith", "iendswith", "isnull", "between", "iexact",
)  # fmt: skip
_TEXT_OPERATORS = frozenset(
    {"contains", "icontains", "startswith", "istartswith", "endswith", "iendswith"}
)
_NEGATED = {"ne": "eq", "not_in": "in"}
SEPARATOR = "__"

RelatedCriteria = Callable[[type], list[ColumnElement[bool]]]
ValueIn = Callable[[Any, Sequence[Any]], ColumnElement[bool]]


@dataclass(frozen=True, slots=True)
class Step:
    """One relationship a lookup walks: its attribute on the parent and the related class."""

    key: str
    attribute: Any
    target: type
    collection: bool


@dataclass(frozen=True, slots=True)
class LookupPath:
    """A parsed lookup key: relationships walked, the field reached (None: a relationship),
    the path inside a JSON field (keys, and integers for array positions), the operator."""

    model: type
    steps: tuple[Step, ...]
    field: FieldInfo | None
    op: str
    json_path: JsonPath = ()

    @property
    def name(self) -> str:
        """The key without its operator (`author__username`, `data__size`)."""
        parts = [s.key for s in self.steps] + ([self.field.key] if self.field else [])
        parts += [str(p) for p in self.json_path]
        return SEPARATOR.join(parts)

    @property
    def is_json(self) -> bool:
        """Whether the lookup compares JSON values (a path into a JSON field, or a JSON op).

        `data=None`, `data__ne=None` and `data__isnull` stay plain SQL NULL tests.
        """
        if self.field is None or not self.field.is_json:
            return False
        return bool(self.json_path) or self.op not in ("isnull", "eq", "ne")


def _in_list(column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    return column.in_(values)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class LookupContext:
    """What building conditions needs besides the model.

    `related` gives the criteria every related row must meet (the repository's scope:
    soft delete, tenants); `value_in` binds an IN list the way the backend does it best.
    """

    related: RelatedCriteria = field(default=lambda model: [])
    value_in: ValueIn = _in_list
    json: JsonSql | None = None


_PATHS: dict[tuple[type, str], LookupPath] = {}


def parse_lookup(model: type, key: str) -> LookupPath:
    """Parse `author__username__icontains` against the models (cached per model and key).

    Raises:
        InvalidQueryError: an unknown relationship, field or operator.
    """
    cached = _PATHS.get((model, key))
    if cached is None:
        cached = _PATHS[(model, key)] = _parse(model, key)
    return cached


def _parse(model: type, key: str) -> LookupPath:
    segments = key.split(SEPARATOR)
    current = model
    steps: list[Step] = []
    for index, segment in enumerate(segments):
        info = model_info(current)
        rest = segments[index + 1 :]
        if segment in info.fields:
            found = info.fields[segment]
            if found.is_json:
                return _json_path(model, tuple(steps), found, key, rest)
            if len(rest) > 1:
                raise _unknown_operator(key, SEPARATOR.join(rest))
            op = rest[0] if rest else "eq"
            _check_operator(key, op)
            return LookupPath(model, tuple(steps), found, op)
        step = relationship_step(current, segment)
        if step is None:
            raise InvalidQueryError(
                f"unknown field or relationship {segment!r} for {current.__name__} in {key!r}",
                {
                    "model": current.__name__,
                    "field": segment,
                    "allowed": sorted([*info.fields, *info.relationships]),
                },
            )
        steps.append(step)
        current = step.target
        if rest == ["isnull"]:
            return LookupPath(model, tuple(steps), None, "isnull")
        if not rest or (len(rest) == 1 and rest[0] in OPERATORS):
            field_path = SEPARATOR.join([*segments[: index + 1], "id"])
            raise InvalidQueryError(
                f"{key!r} compares a relationship: name one of its fields "
                f"(such as {field_path!r}) or use isnull",
                {"lookup": key},
            )
    raise InvalidQueryError(f"empty lookup {key!r}")  # pragma: no cover - the loop decides


def _json_path(
    model: type, steps: tuple[Step, ...], found: FieldInfo, key: str, rest: list[str]
) -> LookupPath:
    """A lookup into a JSON field: a trailing segment naming an operator is the operator."""
    op = "eq"
    if rest and (rest[-1] in OPERATORS or rest[-1] in JSON_OPERATORS):
        op = rest.pop()
    if any(not part or "\x00" in part or '"' in part or "\\" in part for part in rest):
        raise InvalidQueryError(
            f"a key in the JSON path of {key!r} is empty or holds a NUL, quote or backslash"
        )
    path = tuple(int(part) if part.isascii() and part.isdigit() else part for part in rest)
    return LookupPath(model, steps, found, op, path)


def relationship_step(model: type, key: str) -> Step | None:
    """The relationship `key` of `model` as a lookup step, or None when there is none."""
    mapper: Mapper[Any] = orm_inspect(model)
    prop = mapper._props.get(key)
    if not isinstance(prop, RelationshipProperty):
        return None
    target = prop.entity.class_
    return Step(key, getattr(model, key), target, bool(prop.uselist))


def _check_operator(key: str, op: str) -> None:
    if op not in OPERATORS:
        raise _unknown_operator(key, op)


def _unknown_operator(key: str, op: str) -> InvalidQueryError:
    return InvalidQueryError(
        f"unknown operator {op!r} in {key!r}", {"operator": op, "allowed": list(OPERATORS)}
    )


def build_filters(
    model: type, lookups: Mapping[str, Any], context: LookupContext | None = None
) -> list[ColumnElement[bool]]:
    """Return the SQL conditions of `lookups` on `model`; they are meant to be AND-ed."""
    context = context or LookupContext()
    items: list[tuple[LookupPath, Any]] = []
    for key, value in lookups.items():
        path = parse_lookup(model, key)
        explicit = key.endswith(SEPARATOR + "eq")
        if path.op == "eq" and isinstance(value, Mapping) and not explicit and _is_operator_dict(
            path, value
        ):
            for op, inner in value.items():
                items.append((replace(path, op=op), inner))
        else:
            items.append((path, value))
    return _conditions(items, 0, context)


def _is_operator_dict(path: LookupPath, value: Mapping[Any, Any]) -> bool:
    """Whether a dict value holds operators; on a JSON field, only if every key is one
    (`data__meta={"n": 2}` compares with an object; `data__meta__eq={"gt": 1}` too)."""
    if path.field is not None and path.field.is_json:
        return bool(value) and all(k in OPERATORS or k in JSON_OPERATORS for k in value)
    if not value:
        raise InvalidQueryError(f"empty operator mapping for {path.name!r}")
    unknown = [k for k in value if k not in OPERATORS]
    if not unknown:
        return True
    raise _unknown_operator(path.name, str(unknown[0]))


def _conditions(
    items: list[tuple[LookupPath, Any]], depth: int, context: LookupContext
) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    groups: dict[str, list[tuple[LookupPath, Any]]] = {}
    for path, value in items:
        if len(path.steps) == depth and path.is_json:
            found.append(_json_condition(path, value, context))
        elif len(path.steps) == depth:
            assert path.field is not None
            found.append(condition(path.field, path.op, value, context))
        elif len(path.steps) == depth + 1 and path.field is None:
            found.append(_relationship_condition(path.steps[depth], path, value, context))
        else:
            groups.setdefault(path.steps[depth].key, []).append((path, value))
    for group in groups.values():
        step = group[0][0].steps[depth]
        first_collection = step.collection and not any(
            s.collection for s in group[0][0].steps[:depth]
        )
        negated, missing, held = [], [], []
        for path, value in group:
            if first_collection and path.op in _NEGATED:
                negated.append((path, value))
            elif path.op == "isnull" and value is True:
                missing.append((path, value))
            else:
                held.append((path, value))
        if held:
            found.append(_exists(step, _conditions(held, depth + 1, context), context))
        for path, value in negated:
            flipped = [(replace(path, op=_NEGATED[path.op]), value)]
            found.append(not_(_exists(step, _conditions(flipped, depth + 1, context), context)))
        for item in missing:
            # as a LEFT JOIN would: no related row at all, or one whose value is NULL
            inner = _exists(step, _conditions([item], depth + 1, context), context)
            found.append(or_(not_(_exists(step, [], context)), inner))
    return found


def _json_condition(path: LookupPath, value: Any, context: LookupContext) -> ColumnElement[bool]:
    if context.json is None:
        raise InvalidQueryError(f"JSON lookups are not supported here ({path.name!r})")
    assert path.field is not None
    return context.json.condition(path.field.attribute, path.json_path, path.op, value)


def _exists(
    step: Step, conditions: list[ColumnElement[bool]], context: LookupContext
) -> ColumnElement[bool]:
    criteria = and_(true(), *conditions, *context.related(step.target))
    method = step.attribute.any if step.collection else step.attribute.has
    return method(criteria)  # type: ignore[no-any-return]


def _relationship_condition(
    step: Step, path: LookupPath, value: Any, context: LookupContext
) -> ColumnElement[bool]:
    if not isinstance(value, bool):
        raise InvalidQueryError(f"{path.name}__isnull takes True or False")
    exists = _exists(step, [], context)
    return not_(exists) if value else exists


def condition(
    field: FieldInfo, op: str, value: Any, context: LookupContext | None = None
) -> ColumnElement[bool]:
    """Build the SQL condition for one field, operator and value."""
    if op not in OPERATORS:
        raise _unknown_operator(field.key, op)
    column = field.attribute
    if op == "isnull":
        if not isinstance(value, bool):
            raise InvalidQueryError(f"{field.key}__isnull takes True or False")
        return column.is_(None) if value else column.is_not(None)
    if op in _TEXT_OPERATORS or op == "iexact":
        return _text_condition(field, op, value)
    if op in ("in", "not_in"):
        values = [v for v in _sequence(field, op, value) if not isinstance(v, OutOfRange)]
        if not values:
            return false() if op == "in" else true()
        clause = (context or LookupContext()).value_in(column, values)
        return not_(clause) if op == "not_in" else clause
    if op == "between":
        return _between(field, value)
    if value is None:
        if op == "eq":
            return column.is_(None)
        if op == "ne":
            return column.is_not(None)
        raise InvalidQueryError(f"{field.key}__{op} does not take None")
    value = compared_value(field, value)
    if isinstance(value, OutOfRange):
        return _decided(column, op, value)
    return compare(column, op, value)


_COMPARISONS = frozenset({"eq", "ne", "gt", "gte", "lt", "lte"})


def compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    """`column <op> value` for a comparison operator (`value` may be a bind parameter)."""
    builders: dict[str, Callable[[Any], ColumnElement[bool]]] = {
        "eq": column.__eq__,
        "ne": column.__ne__,
        "gt": column.__gt__,
        "gte": column.__ge__,
        "lt": column.__lt__,
        "lte": column.__le__,
    }
    return builders[op](value)


@dataclass(frozen=True, slots=True)
class Comparison:
    """A lookup on a column of the model itself, its value checked: SQL of a fixed shape.

    Statements made only of comparisons can be built once per shape and reused with
    the values bound per call; `isnull`'s True or False is part of the shape.
    """

    field: FieldInfo
    op: str
    value: Any

    @property
    def shape(self) -> tuple[str, str, Any]:
        """What decides the SQL: the field, the operator and, for `isnull`, the value."""
        return (self.field.key, self.op, self.value if self.op == "isnull" else None)

    @property
    def bound(self) -> bool:
        """Whether the SQL takes the value as a parameter (`isnull` takes none)."""
        return self.op != "isnull"

    def condition(self, value: Any = None) -> ColumnElement[bool]:
        """The SQL condition, with `value` (a bind parameter) in place of the value if given."""
        column = self.field.attribute
        if self.op == "isnull":
            return column.is_(None) if self.value else column.is_not(None)
        return compare(column, self.op, self.value if value is None else value)


def comparisons(model: type, lookups: Mapping[str, Any]) -> list[Comparison] | None:
    """The lookups as comparisons, or None when one needs more than a column comparison
    (a relationship, a JSON path, a list, text matching, None, an operator mapping, or a
    value no row can hold); `build_filters` handles those.

    Raises:
        InvalidQueryError: an unknown field or operator, or a value of the wrong type.
    """
    found: list[Comparison] = []
    for key, value in lookups.items():
        path = parse_lookup(model, key)
        field = path.field
        if path.steps or field is None or path.is_json or isinstance(value, Mapping):
            return None
        if path.op == "isnull" and isinstance(value, bool):
            found.append(Comparison(field, "isnull", value))
            continue
        if path.op not in _COMPARISONS or value is None or is_sql(value):
            return None
        checked = compared_value(field, value)
        if isinstance(checked, OutOfRange):
            return None
        found.append(Comparison(field, path.op, checked))
    return found


def _decided(column: Any, op: str, value: OutOfRange) -> ColumnElement[bool]:
    """A comparison with a value no row can hold, answered without the database."""
    holds = {
        "eq": False,
        "ne": True,
        "gt": not value.above,
        "gte": not value.above,
        "lt": value.above,
        "lte": value.above,
    }[op]
    return column.is_not(None) if holds else false()


def _text_condition(field: FieldInfo, op: str, value: Any) -> ColumnElement[bool]:
    if not field.is_string:
        raise InvalidQueryError(f"{op} needs a text field; {field.key!r} is not one")
    if not isinstance(value, str):
        raise InvalidQueryError(f"{field.key}__{op} takes a string")
    compared_value(field, value)  # refuses NUL characters
    if op == "iexact":
        return func.lower(field.attribute) == func.lower(value)
    method = getattr(field.attribute, op)
    result: ColumnElement[bool] = method(value, autoescape=True)
    return result


def _sequence(field: FieldInfo, op: str, value: Any) -> list[Any]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise InvalidQueryError(f"{field.key}__{op} takes a list of values")
    return [compared_value(field, v) for v in value]


def _between(field: FieldInfo, value: Any) -> ColumnElement[bool]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 2:
        raise InvalidQueryError(f"{field.key}__between takes a (low, high) pair")
    low, high = value
    if low is None or high is None:
        raise InvalidQueryError(f"{field.key}__between bounds must not be None")
    low, high = compared_value(field, low), compared_value(field, high)
    column = field.attribute
    if (isinstance(low, OutOfRange) and low.above) or (
        isinstance(high, OutOfRange) and not high.above
    ):
        return false()
    bounds = []
    if not isinstance(low, OutOfRange):
        bounds.append(column >= low)
    if not isinstance(high, OutOfRange):
        bounds.append(column <= high)
    return and_(*bounds) if bounds else column.is_not(None)
