"""`ModelFactory`: rows of fake data for a model, built from its column types with Faker."""

from __future__ import annotations

import enum
import itertools
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

from faker import Faker
from sqlalchemy import JSON, Column, Enum, Numeric, SmallInteger
from sqlalchemy import inspect as sa_inspect

from orm_core import SoftDeleteMixin
from orm_core.errors import InvalidQueryError
from orm_core.generic import bound_to_model, is_model

Generator = Callable[[], Any]
ModelT = TypeVar("ModelT", bound=Any)

# Distinct values drawn for each non-unique text column.
TEXT_POOL_SIZE = 500

# Column names that deserve a realistic Faker provider rather than random words.
NAME_HINTS: dict[str, str] = {
    "email": "email",
    "first_name": "first_name",
    "last_name": "last_name",
    "name": "name",
    "username": "user_name",
    "city": "city",
    "country": "country",
    "phone": "phone_number",
    "url": "url",
    "address": "street_address",
    "company": "company",
    "title": "catch_phrase",
    "description": "sentence",
}


class ModelFactory(Generic[ModelT]):
    """Build dicts (or instances) of fake values for every column a row needs.

    Example:
        class ProductFactory(ModelFactory[Product]):
            fields = {"category": "books", "name": lambda fake: fake.catch_phrase()}

        rows = ProductFactory(seed=1).build_rows(100)

    Skipped: autoincrement keys and columns with a default (their default applies).
    Unique string and integer columns get collision-free values. A `fields` entry
    is a constant or a callable taking the `Faker` instance. Foreign keys take
    their values from `references` (see `orm_repositories.seeding.seed`).
    """

    model: ClassVar[type[Any]]
    fields: ClassVar[Mapping[str, Any]] = {}

    def __class_getitem__(cls, params: Any) -> Any:
        if is_model(params):
            return bound_to_model(cls, params, f"{params.__name__}Factory")
        return super().__class_getitem__(params)  # type: ignore[misc]

    @classmethod
    def for_model(cls, model: type[Any]) -> type[ModelFactory[Any]]:
        """Return a factory class for `model` with no field overrides."""
        return bound_to_model(cls, model, f"{model.__name__}Factory")

    def __init__(self, *, seed: int | None = None, locale: str | None = None) -> None:
        if getattr(type(self), "model", None) is None:
            raise TypeError(f"{type(self).__name__} has no model: subclass ModelFactory[Model]")
        self.fake = Faker(locale)
        if seed is not None:
            self.fake.seed_instance(seed)
        self.table = sa_inspect(self.model).local_table
        self.foreign_keys = [
            c for c in self.table.columns if c.foreign_keys and c.key not in self.fields
        ]
        self._generators = self._plan()

    def build_row(
        self, references: Mapping[str, Sequence[Any]] | None = None, **overrides: Any
    ) -> dict[str, Any]:
        """Return one row as a dict of field values."""
        row = {key: generate() for key, generate in self._generators}
        for column in self.foreign_keys:
            choices = (references or {}).get(column.key)
            if choices:
                row[column.key] = self.fake.random.choice(choices)
        row.update(overrides)
        return row

    def build_rows(
        self, count: int, references: Mapping[str, Sequence[Any]] | None = None
    ) -> list[dict[str, Any]]:
        """Return `count` rows as dicts."""
        return [self.build_row(references) for _ in range(count)]

    def iter_rows(
        self, count: int, references: Mapping[str, Sequence[Any]] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield `count` rows lazily."""
        for _ in range(count):
            yield self.build_row(references)

    def build(self, **overrides: Any) -> ModelT:
        """Return an unsaved model instance."""
        return self.model(**self.build_row(**overrides))  # type: ignore[no-any-return]

    # -- planning --------------------------------------------------------------------

    def _plan(self) -> list[tuple[str, Generator]]:
        plan: list[tuple[str, Generator]] = []
        mapper = sa_inspect(self.model)
        for attr in mapper.column_attrs:
            key, column = attr.key, attr.columns[0]
            if key in self.fields:
                plan.append((key, self._override(self.fields[key])))
            elif not self._skipped(column):
                plan.append((key, self._generator(column)))
        return plan

    def _override(self, value: Any) -> Generator:
        if callable(value):
            return lambda: value(self.fake)
        return lambda: value

    def _skipped(self, column: Column[Any]) -> bool:
        if column.foreign_keys or column.computed is not None:
            return True
        if column.key == "deleted_at" and issubclass(self.model, SoftDeleteMixin):
            return True  # seeded rows stay visible
        if column.default is not None or column.server_default is not None:
            return True
        return column is self.table.autoincrement_column

    def _generator(self, column: Column[Any]) -> Generator:
        try:
            python_type = dict if isinstance(column.type, JSON) else column.type.python_type
        except NotImplementedError:
            python_type = object
        if column.unique or column.primary_key:
            unique = self._unique(column, python_type)
            if unique is not None:
                return unique
        for kind, build in _BY_TYPE:
            if issubclass(python_type, kind):
                return build(self.fake, column)
        raise InvalidQueryError(
            f"cannot generate values for {self.table.name}.{column.name} of type {column.type}: "
            "give it in the factory's fields"
        )

    def _unique(self, column: Column[Any], python_type: type) -> Generator | None:
        if issubclass(python_type, str):
            length = getattr(column.type, "length", None) or 32
            return lambda: uuid.uuid4().hex[:length]
        if issubclass(python_type, int) and not issubclass(python_type, bool):
            counter = itertools.count(self.fake.random.randrange(1, 2**30))
            return lambda: next(counter)
        return None


def _text(fake: Faker, column: Column[Any]) -> Generator:
    length = getattr(column.type, "length", None)
    provider = next((p for hint, p in NAME_HINTS.items() if hint in column.key.lower()), None)
    if length is not None and length < 8:
        return lambda: fake.pystr(min_chars=1, max_chars=length)
    make: Generator = getattr(fake, provider) if provider else fake.word
    # Realistic providers cost up to 200 us a call: draw from a pool made once.
    pool = [make()[:length] if length else make() for _ in range(TEXT_POOL_SIZE)]
    choice = fake.random.choice
    return lambda: choice(pool)


def _integer(fake: Faker, column: Column[Any]) -> Generator:
    high = 100 if isinstance(column.type, SmallInteger) else 10_000
    randint = fake.random.randint
    return lambda: randint(0, high)


def _decimal(fake: Faker, column: Column[Any]) -> Generator:
    numeric = column.type if isinstance(column.type, Numeric) else Numeric(12, 2)
    scale = numeric.scale if numeric.scale is not None else 2
    digits = min((numeric.precision or 12) - scale, 6)
    randint = fake.random.randint
    return lambda: Decimal(randint(0, 10 ** (digits + scale) - 1)).scaleb(-scale)


def _enum(fake: Faker, column: Column[Any]) -> Generator:
    sa_type = column.type
    choices: list[Any] = []
    if isinstance(sa_type, Enum):
        choices = (
            list(sa_type.enum_class) if sa_type.enum_class is not None else list(sa_type.enums)
        )
    return lambda: fake.random.choice(choices)


def _datetime(fake: Faker, column: Column[Any]) -> Generator:
    aware = bool(getattr(column.type, "timezone", False)) or bool(
        getattr(getattr(column.type, "impl", None), "timezone", False)
    )
    tz = UTC if aware else None
    return lambda: fake.date_time_between(start_date="-2y", end_date="now", tzinfo=tz)


_BY_TYPE: list[tuple[type, Callable[[Faker, Column[Any]], Generator]]] = [
    (bool, lambda fake, _c: fake.pybool),
    (enum.Enum, _enum),
    (int, _integer),
    (float, lambda fake, _c: lambda: fake.pyfloat(min_value=0, max_value=10_000)),
    (Decimal, _decimal),
    (str, _text),
    (datetime, _datetime),
    (date, lambda fake, _c: fake.date_object),
    (time, lambda fake, _c: fake.time_object),
    (uuid.UUID, lambda _f, _c: uuid.uuid4),
    (dict, lambda fake, _c: lambda: {"word": fake.word(), "number": fake.random.randint(0, 100)}),
    (list, lambda fake, _c: lambda: [fake.word() for _ in range(3)]),
    (bytes, lambda fake, _c: lambda: fake.binary(length=16)),
]
