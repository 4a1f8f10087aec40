"""Tenants: the tenant a unit of work works for, and the rule every statement follows.

A `TenantMixin` model's rows belong to a tenant. A unit of work opened with
`tenant="acme"` sees and touches only that tenant's rows, through every repository
method (the repositories' scoped criteria) and every other ORM statement of its session
(`scope_session_statement`, a `do_orm_execute` hook adding `with_loader_criteria`).
`ALL_TENANTS` is the explicit way to see every tenant; no tenant at all is an error.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import ColumnElement
from sqlalchemy.orm import ORMExecuteState, with_loader_criteria

from orm_core.errors import InvalidQueryError, TenantRequiredError

# repository statements carry their own tenant criterion: the session hook skips them
SCOPED_OPTION = "orm_scoped"


class AllTenants:
    """The marker of a unit of work that sees every tenant (admin work)."""

    _instance: AllTenants | None = None

    def __new__(cls) -> AllTenants:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ALL_TENANTS"


ALL_TENANTS: Final = AllTenants()


def check_tenant(tenant: Any) -> Any:
    """Check the `tenant=` given to a unit of work.

    Raises:
        InvalidQueryError: a tenant that is neither a non-empty string nor `ALL_TENANTS`.
    """
    if tenant is None or tenant is ALL_TENANTS:
        return tenant
    if not isinstance(tenant, str) or not 0 < len(tenant) <= 64 or "\x00" in tenant:
        raise InvalidQueryError(
            "tenant must be a string of 1 to 64 characters without NUL, or ALL_TENANTS"
        )
    return tenant


def check_actor(actor: Any) -> str | None:
    """Check the `actor=` given to a unit of work (it is written into audit rows).

    Raises:
        InvalidQueryError: an actor that is not a string of at most 255 characters.
    """
    if actor is None:
        return None
    if not isinstance(actor, str) or len(actor) > 255 or "\x00" in actor:
        raise InvalidQueryError("actor must be a string of at most 255 characters without NUL")
    return actor


def required(tenant: Any, model: type) -> Any:
    """The tenant a statement on `model` is scoped to.

    Raises:
        TenantRequiredError: the unit of work (or bare session) has no tenant.
    """
    if tenant is None:
        raise TenantRequiredError(
            f"{model.__name__} is a tenant model: open the unit of work with tenant=... "
            "(or tenant=ALL_TENANTS for work across tenants)",
            {"model": model.__name__},
        )
    return tenant


def tenant_value(tenant: Any, model: type, value: Any) -> Any:
    """The `tenant_id` to store for a row: the unit's tenant, checked against a given one.

    Raises:
        InvalidQueryError: a value differing from the unit's tenant, or none under
            `ALL_TENANTS`.
    """
    tenant = required(tenant, model)
    if tenant is ALL_TENANTS:
        if value is None:
            raise InvalidQueryError(
                f"a {model.__name__} written under ALL_TENANTS needs its tenant_id",
                {"field": "tenant_id"},
            )
        return value
    if value is not None and value != tenant:
        raise InvalidQueryError(
            f"tenant_id must be the unit of work's tenant ({tenant!r})", {"field": "tenant_id"}
        )
    return tenant


def scope_session_statement(state: ORMExecuteState, tenant: Any, mixin: type) -> None:
    """Scope an ORM statement of a unit's session (loads, the user's own selects) to its tenant.

    Raises:
        TenantRequiredError: the statement touches a tenant model and the unit has no tenant.
    """
    if tenant is ALL_TENANTS or state.execution_options.get(SCOPED_OPTION):
        return
    if not mixin.__subclasses__():
        return  # no tenant model in this process: nothing to look for in the statement
    if not (state.is_select or state.is_update or state.is_delete):
        return
    touched = [m.class_ for m in state.all_mappers if issubclass(m.class_, mixin)]
    if not touched:
        return
    required(tenant, touched[0])
    state.statement = state.statement.options(
        with_loader_criteria(mixin, lambda cls: cls.tenant_id == tenant, include_aliases=True)
    )


def criterion(column: Any, tenant: Any) -> ColumnElement[bool] | None:
    """`tenant_id = tenant`, or None under `ALL_TENANTS`."""
    return None if tenant is ALL_TENANTS else column == tenant


_SCHEMA_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def check_schema(schema: str | None) -> str | None:
    """Check a schema name for schema-per-tenant work: lower-case letters, digits, underscores.

    Raises:
        InvalidQueryError: any other name (it ends up in DDL such as CREATE SCHEMA).
    """
    if schema is None:
        return None
    if (
        not isinstance(schema, str)
        or not 0 < len(schema) <= 63
        or not set(schema) <= _SCHEMA_CHARACTERS
        or schema[0].isdigit()
    ):
        raise InvalidQueryError(
            "schema must be 1 to 63 lower-case letters, digits or underscores, "
            "not starting with a digit",
            {"schema": repr(schema)},
        )
    return schema
