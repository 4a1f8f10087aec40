"""`RepositoryBase`: the model, the session, scoping and the one execution point."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar, get_args, get_origin

from sqlalchemy import ColumnElement, Select, and_, inspect, select, tuple_
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from orm_core import SoftDeleteMixin
from orm_core.errors import InvalidQueryError, OrmError
from orm_core.fields import ModelInfo, check_value, model_info, storable_value
from orm_core.lookups import build_filters
from orm_core.translate import translate

ModelT = TypeVar("ModelT", bound=Any)
Scope = Literal["active", "all", "deleted"]

# Leaves room under PostgreSQL's 32,767 bind parameters and SQLite's 32,766.
MAX_BIND_PARAMS = 30_000


class RepositoryBase(Generic[ModelT]):
    """Hold the session and the model; build scoped criteria; run statements."""

    __orm_repository__: ClassVar[bool] = True
    model: ClassVar[type[Any]]
    max_page_size: ClassVar[int] = 1000
    _model_classes: ClassVar[dict[tuple[type[Any], type[Any]], type[Any]]] = {}

    def __init__(self, session: AsyncSession) -> None:
        if not isinstance(session, AsyncSession):
            raise TypeError(f"{type(self).__name__} needs an AsyncSession, got {session!r}")
        self.session = session
        self._scope: Scope = "active"

    def __getattr__(self, name: str) -> Any:
        # `AsyncRepository[Product](session)`: typing sets __orig_class__ after __init__
        if name == "model":
            args = get_args(self.__dict__.get("__orig_class__"))
            if args and isinstance(args[0], type):
                self.__dict__["model"] = args[0]
                return args[0]
            raise TypeError(f"{type(self).__name__} has no model: subclass AsyncRepository[Model]")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in cls.__dict__.get("__orig_bases__", ()):
            origin, args = get_origin(base), get_args(base)
            if (
                isinstance(origin, type)
                and issubclass(origin, RepositoryBase)
                and args
                and isinstance(args[0], type)
            ):
                cls.model = args[0]
                break

    @classmethod
    def for_model(cls, model: type[Any]) -> type[Self]:
        """Return (and cache) this repository class bound to `model`."""
        key = (cls, model)
        made = RepositoryBase._model_classes.get(key)
        if made is None:
            made = type(f"{cls.__name__}[{model.__name__}]", (cls,), {"model": model})
            RepositoryBase._model_classes[key] = made
        return made

    @property
    def info(self) -> ModelInfo:
        """Field metadata of the model."""
        return model_info(self.model)

    @property
    def soft_deletes(self) -> bool:
        """Whether the model has `SoftDeleteMixin`."""
        return issubclass(self.model, SoftDeleteMixin)

    def _scoped(self, scope: Scope) -> Self:
        clone = type(self)(self.session)
        clone.__dict__.update({k: v for k, v in self.__dict__.items() if k != "_scope"})
        clone._scope = scope
        return clone

    def _scope_criteria(self) -> list[ColumnElement[bool]]:
        if self._scope == "all" or not self.soft_deletes:
            return []
        column = self.model.deleted_at
        return [column.is_(None) if self._scope == "active" else column.is_not(None)]

    def _criteria(
        self, where: Sequence[Any], lookups: Mapping[str, Any]
    ) -> list[ColumnElement[bool]]:
        criteria = self._scope_criteria()
        criteria.extend(where)
        if lookups:
            criteria.extend(build_filters(self.model, lookups))
        return criteria

    def _select(
        self, where: Sequence[Any] = (), lookups: Mapping[str, Any] | None = None
    ) -> Select[Any]:
        return select(self.model).where(*self._criteria(where, lookups or {}))

    async def _execute(self, statement: Executable, params: Any = None) -> Result[Any]:
        try:
            return await self.session.execute(statement, params)
        except OrmError:
            raise
        except Exception as exc:
            raise translate(exc) from exc

    async def _flush(self) -> None:
        try:
            await self.session.flush()
        except Exception as exc:
            raise translate(exc) from exc

    async def _all(self, statement: Select[Any]) -> list[ModelT]:
        return list((await self._execute(statement)).scalars().all())

    # -- primary keys -------------------------------------------------------------

    def _pk_value(self, ident: Any) -> Any:
        """Check an id (a tuple for composite keys) against the key's types."""
        pk = self.info.primary_key
        if len(pk) == 1:
            if ident is None or isinstance(ident, tuple | list | dict | set):
                raise InvalidQueryError(f"invalid id {ident!r} for {self.model.__name__}")
            return check_value(pk[0], ident)
        if not isinstance(ident, tuple | list) or len(ident) != len(pk):
            raise InvalidQueryError(
                f"{self.model.__name__} has a composite key: pass a tuple of {len(pk)} values"
            )
        return tuple(check_value(f, v) for f, v in zip(pk, ident, strict=True))

    def _pk_values(self, idents: Iterable[Any]) -> list[Any]:
        if isinstance(idents, str | bytes) or not isinstance(idents, Iterable):
            raise InvalidQueryError("ids must be an iterable of ids")
        seen: dict[Any, None] = {}
        for ident in idents:
            seen.setdefault(self._pk_value(ident), None)
        return list(seen)

    def _pk_in(self, values: Sequence[Any]) -> ColumnElement[bool]:
        pk = self.info.primary_key
        if len(pk) == 1:
            return pk[0].attribute.in_(values)
        return tuple_(*(f.attribute for f in pk)).in_(values)

    def _pk_equals(self, value: Any) -> ColumnElement[bool]:
        pk = self.info.primary_key
        if len(pk) == 1:
            condition: ColumnElement[bool] = pk[0].attribute == value
            return condition
        return and_(*(f.attribute == v for f, v in zip(pk, value, strict=True)))

    def _pk_of(self, entity: Any) -> Any:
        values = tuple(getattr(entity, f.key) for f in self.info.primary_key)
        return values[0] if len(values) == 1 else values

    def _chunks(self, values: Sequence[Any], per_item: int = 1) -> Iterator[Sequence[Any]]:
        size = max(1, MAX_BIND_PARAMS // max(1, per_item * len(self.info.primary_key)))
        for start in range(0, len(values), size):
            yield values[start : start + size]

    # -- values ---------------------------------------------------------------------

    def _checked_values(
        self, values: Mapping[str, Any], *, allow_pk: bool = True
    ) -> dict[str, Any]:
        """Check field names and value types of a write; relationships pass through."""
        info = self.info
        checked: dict[str, Any] = {}
        for key, value in values.items():
            if key in info.relationships:
                checked[key] = value
                continue
            field = info.field(key)
            if field.primary_key and not allow_pk:
                raise InvalidQueryError(f"the primary key {key!r} cannot be changed")
            checked[key] = storable_value(field, value)
        return checked

    def _onupdate_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Values of Python-side `onupdate` columns (such as `updated_at`) not set explicitly.

        Setting them explicitly keeps every UPDATE path (bulk, atomic, by criteria)
        refreshing them, and lets the session's copies take the same value.
        """
        extra: dict[str, Any] = {}
        for key, field in self.info.fields.items():
            default = field.column.onupdate
            if default is None or key in values:
                continue
            arg = getattr(default, "arg", None)
            if getattr(default, "is_scalar", False):
                extra[key] = arg
            elif getattr(default, "is_callable", False) and callable(arg):
                try:
                    extra[key] = arg(None)
                except Exception:
                    continue  # a context-sensitive default: leave it to SQLAlchemy
        return extra

    def _version_bump(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The new value of a `version_id_col` for a Core UPDATE, unless set in `values`.

        ORM flushes bump the version themselves; a Core UPDATE must do it too, or a
        stale copy held elsewhere would pass its version check and overwrite the change.
        """
        mapper = inspect(self.model)
        column = mapper.version_id_col
        generator = mapper.version_id_generator
        if column is None or generator is False:
            return {}
        key = mapper.get_property_by_column(column).key
        if key in values:
            return {}
        if self.info.fields[key].python_type is int:
            return {key: column + 1}
        return {key: generator(None)}

    async def _reload_expired(self) -> None:
        """Re-read held entities of this model whose columns a bulk statement expired.

        An ORM-enabled UPDATE expires attributes it cannot compute in Python (such
        as a version bump); reading them after the unit of work closed would fail.
        """
        columns = set(self.info.fields)
        stale = [
            self._pk_of(entity)
            for entity in list(self.session.sync_session.identity_map.values())
            if isinstance(entity, self.model) and inspect(entity).unloaded & columns
        ]
        for chunk in self._chunks(stale):
            stmt = select(self.model).where(self._pk_in(chunk))
            await self._all(stmt.execution_options(populate_existing=True))

    async def _ensure_loaded(self, entities: Iterable[Any]) -> None:
        """Load column attributes expired by a flush, so reads never need the database."""
        columns = self.info.fields.keys()
        for entity in entities:
            state = inspect(entity)
            missing = [k for k in state.unloaded if k in columns]
            if missing and state.persistent:
                try:
                    await self.session.refresh(entity, attribute_names=missing)
                except Exception as exc:
                    raise translate(exc) from exc
