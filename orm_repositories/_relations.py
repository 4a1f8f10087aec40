"""Related rows without loading collections: `count_related`, `link` and `unlink`.

`count_related` counts the related rows of many parents in one grouped statement.
`link` and `unlink` add or remove rows of a many-to-many association table directly:
`INSERT … ON CONFLICT DO NOTHING` makes linking idempotent and safe when many
transactions link the same pair at once (the association table's primary key, or a
unique constraint over the pair, is the arbiter).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Table, UniqueConstraint, delete, false, func, inspect, select
from sqlalchemy.orm import RelationshipProperty, selectinload

from orm_core.errors import InvalidQueryError, NotFoundError
from orm_core.fields import ModelInfo, model_info
from orm_core.lookups import build_filters
from orm_core.session import nested, record_write
from orm_core.tenancy import ALL_TENANTS, required
from orm_core.translate import translating
from orm_repositories._changes import after, before, key_fields
from orm_repositories._keys import chunks, matches_nothing, pk_equals, pk_value, pk_values
from orm_repositories._select import lookup_context, model_scope, related_criteria
from orm_repositories._target import Target, execute, fetch_all, flush


@dataclass(frozen=True, slots=True)
class Collection:
    """A one-to-many or many-to-many relationship, reduced to the columns that link it."""

    name: str
    target: type
    parent_key: Any
    # the column holding the parent's key: on the child (one-to-many) or the association
    parent_column: Any
    secondary: Table | None
    target_column: Any
    prop: RelationshipProperty[Any]


def collection(target: Target, name: Any) -> Collection:
    """Describe the collection relationship `name` of the target's model.

    Raises:
        InvalidQueryError: no such relationship, a to-one one, or a composite link.
    """
    info = target.info
    if not isinstance(name, str) or name not in info.relationships:
        raise InvalidQueryError(
            f"{target.model.__name__} has no relationship {name!r}",
            {"model": target.model.__name__, "allowed": sorted(info.relationships)},
        )
    prop: RelationshipProperty[Any] = inspect(target.model).relationships[name]
    if not prop.uselist:
        raise InvalidQueryError(f"{target.model.__name__}.{name} is not a collection")
    pairs = prop.synchronize_pairs
    secondary_pairs = prop.secondary_synchronize_pairs or []
    if len(pairs) != 1 or len(secondary_pairs) > 1:
        raise InvalidQueryError(f"{target.model.__name__}.{name} links through a composite key")
    secondary = prop.secondary if isinstance(prop.secondary, Table) else None
    return Collection(
        name=name,
        target=prop.entity.class_,
        parent_key=pairs[0][0],
        parent_column=pairs[0][1],
        secondary=secondary,
        target_column=secondary_pairs[0][1] if secondary_pairs else None,
        prop=prop,
    )


async def count_related(
    target: Target,
    parents: Iterable[Any],
    name: Any,
    where: Sequence[Any],
    lookups: Mapping[str, Any],
) -> dict[Any, int]:
    """Related rows per parent, in one statement; every requested parent is a key."""
    link = collection(target, name)
    requested = _requested(target, parents)
    counts = dict.fromkeys(requested, 0)
    by_key = {key: given for given, key in requested.items() if not matches_nothing(key)}
    wanted = list(by_key)
    if not wanted:
        return counts
    parent_column = link.parent_column
    statement: Any = select(parent_column, func.count())
    keyed = _key_filter(target, link, where, lookups)
    if keyed is not None:
        # only the target's key is asked about: the association table alone answers
        conditions = keyed
        statement = statement.select_from(link.secondary)
    else:
        conditions = [
            *where,
            *build_filters(link.target, lookups, lookup_context(target)),
            *related_criteria(target)(link.target),
        ]
        if link.secondary is not None:
            statement = statement.select_from(link.secondary).join(
                link.target, link.prop.secondaryjoin
            )
        else:
            statement = statement.select_from(link.target)
    for chunk in chunks(target, wanted):
        grouped = statement.where(parent_column.in_(chunk), *conditions).group_by(parent_column)
        rows: list[Any] = list((await execute(target, grouped)).all())
        for key, number in rows:
            counts[by_key[key]] = int(number)
    return counts


def _key_filter(
    target: Target, link: Collection, where: Sequence[Any], lookups: Mapping[str, Any]
) -> list[Any] | None:
    """Conditions on the association table when the lookups only name the target's key."""
    info = model_info(link.target)
    if link.secondary is None or where or len(lookups) != 1:
        return None
    if related_criteria(target)(link.target):
        return None  # related rows have a scope to meet: the join is needed
    if len(info.primary_key) != 1 or link.target_column is None:
        return None
    ((key, value),) = lookups.items()
    name = info.primary_key[0].key
    if key in (name, f"{name}__eq"):
        checked = pk_value(info, value)
        return [link.target_column == checked] if not matches_nothing(checked) else [false()]
    if key == f"{name}__in" and isinstance(value, list | tuple | set):
        return [link.target_column.in_(pk_values(info, value))]
    return None


async def link(target: Target, parent: Any, name: Any, targets: Any) -> int:
    """Add association rows for `targets`; return how many were not there yet."""
    association, parent_id, target_ids = await _association(target, parent, name, targets)
    table, parent_column, target_column = association
    if not target_ids:
        return 0
    change = {**key_fields(target.info, parent_id), name: target_ids}
    await before(target, "update", [change])
    rows = [{parent_column.key: parent_id, target_column.key: t} for t in target_ids]
    if "tenant_id" in table.c and target.tenant is not ALL_TENANTS:
        tenant = required(target.tenant, target.model)
        rows = [{**row, "tenant_id": tenant} for row in rows]
    conflict = _pair_key(table, parent_column, target_column)
    added = 0
    async with nested(target.session):
        record_write(target.session, table)
        for chunk in chunks(target, rows, per_item=len(rows[0])):
            insert = target.backend.upsert_insert(table).values(list(chunk))
            statement = target.backend.on_conflict_nothing(insert, conflict)
            with translating():
                result = await target.session.execute(statement)
            added += int(result.rowcount)  # type: ignore[attr-defined]
    if added:
        await after(target, "update", [(parent_id, None, {name: target_ids})], audit=False)
    await _refresh(target, parent, name)
    return added


async def unlink(target: Target, parent: Any, name: Any, targets: Any) -> int:
    """Remove the association rows for `targets`; return how many there were."""
    association, parent_id, target_ids = await _association(target, parent, name, targets)
    table, parent_column, target_column = association
    change = {**key_fields(target.info, parent_id), name: target_ids}
    await before(target, "update", [change])
    removed = 0
    record_write(target.session, table)
    for chunk in chunks(target, target_ids):
        statement = delete(table).where(parent_column == parent_id, target_column.in_(chunk))
        removed += int((await execute(target, statement)).rowcount)  # type: ignore[attr-defined]
    if removed:
        await after(target, "update", [(parent_id, None, {name: target_ids})], audit=False)
    await _refresh(target, parent, name)
    return removed


async def _association(
    target: Target, parent: Any, name: Any, targets: Any
) -> tuple[tuple[Table, Column[Any], Column[Any]], Any, list[Any]]:
    link = collection(target, name)
    if link.secondary is None or link.target_column is None:
        raise InvalidQueryError(
            f"{target.model.__name__}.{name} is not a many-to-many relationship "
            "(link and unlink write association rows)"
        )
    parent_id = next(iter(_requested(target, [parent]).values()))
    if matches_nothing(parent_id):
        raise NotFoundError(
            f"{target.model.__name__} not found",
            {"model": target.model.__name__, "filters": {"id": parent}},
        )
    items = [targets] if not isinstance(targets, list | tuple | set | frozenset) else targets
    target_info = model_info(link.target)
    ids: dict[Any, None] = {}
    for item in items:
        value = _key_of(target_info.model, item) if isinstance(item, link.target) else item
        checked = pk_value(target_info, value)
        if matches_nothing(checked):
            raise NotFoundError(
                f"{link.target.__name__} not found",
                {"model": link.target.__name__, "filters": {"id": item}},
            )
        ids.setdefault(checked, None)
    await flush(target)
    await _visible(target, target.info, [parent_id], parent)
    await _visible(target, target_info, list(ids), targets)
    return (link.secondary, link.parent_column, link.target_column), parent_id, list(ids)


async def _visible(target: Target, info: ModelInfo, keys: list[Any], given: Any) -> None:
    """Refuse keys of a tenant model that the unit's tenant cannot see (as if missing).

    Raises:
        NotFoundError: a row is missing for this tenant.
    """
    if info.tenant is None or not keys or target.tenant is ALL_TENANTS:
        return
    scope = model_scope(info, "all", target.tenant)
    column = info.primary_key[0].attribute
    statement = select(func.count()).select_from(info.model).where(column.in_(keys), *scope)
    if int((await execute(target, statement)).scalar_one()) != len(keys):
        raise NotFoundError(
            f"{info.model.__name__} not found", {"model": info.model.__name__, "filters": given}
        )


def _requested(target: Target, parents: Iterable[Any]) -> dict[Any, Any]:
    """Each parent's id as given (an entity's own key), mapped to the checked key."""
    if isinstance(parents, str | bytes) or not isinstance(parents, Iterable):
        raise InvalidQueryError("pass a list of entities or ids")
    keys: dict[Any, Any] = {}
    for parent in parents:
        value = _key_of(target.model, parent) if isinstance(parent, target.model) else parent
        keys.setdefault(value, pk_value(target.info, value))
    return keys


def _key_of(model: type, entity: Any) -> Any:
    identity = inspect(entity).identity
    if identity is None:
        raise InvalidQueryError(f"the {model.__name__} has no key yet: add it first")
    return identity[0] if len(identity) == 1 else tuple(identity)


def _pair_key(table: Table, parent: Column[Any], target: Column[Any]) -> list[Column[Any]]:
    """The association table's key over the pair, the arbiter of `ON CONFLICT`."""
    pair = {parent.name, target.name}
    if {c.name for c in table.primary_key.columns} == pair:
        return [parent, target]
    for constraint in table.constraints:
        if not isinstance(constraint, UniqueConstraint):
            continue
        if {c.name for c in constraint.columns} == pair:
            return [parent, target]
    raise InvalidQueryError(
        f"link needs a primary key or unique constraint over ({parent.name}, {target.name}) "
        f"on {table.name}, so a pair cannot be stored twice"
    )


async def _refresh(target: Target, parent: Any, name: str) -> None:
    """Reload the parent's collection if it was loaded, so it shows the change."""
    if not isinstance(parent, target.model):
        return
    state = inspect(parent)
    if name not in state.dict or not state.persistent:
        return
    target.session.expire(parent, [name])
    attribute = getattr(target.model, name)
    criteria = related_criteria(target)(attribute.property.entity.class_)
    option = selectinload(attribute.and_(*criteria) if criteria else attribute)
    key = _key_of(target.model, parent)
    statement = select(target.model).where(pk_equals(target.info, key)).options(option)
    await fetch_all(target, statement)
