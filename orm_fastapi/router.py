"""`crud_router`: list, get, create, patch and delete endpoints for one repository.

Each request runs in its own unit of work, entered and left inside the endpoint,
so the commit happens before the response is sent and a failed commit becomes
an error answer, never a lost write behind a 200.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any

from dependency_injector import providers
from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from pydantic import BaseModel, create_model

from orm_core import (
    InvalidQueryError,
    ModelInfo,
    NotFoundError,
    UnitOfWork,
    build_order_by,
    model_info,
)
from orm_fastapi.etags import check_if_match, etag_for, matches
from orm_fastapi.health import CONTAINER_STATE_KEY
from orm_fastapi.idempotency import idempotent
from orm_fastapi.openapi import ERROR_RESPONSES
from orm_fastapi.query import (
    PAGINATION_PARAMS,
    FilterParam,
    QueryRoute,
    check_known,
    filter_params,
    parse_filters,
    parse_order_by,
)
from orm_repositories import AsyncRepository, Load, loader_options

JSON = "application/json"


def crud_router(
    repository: type[AsyncRepository[Any]] | type[Any],
    *,
    unit_of_work: Callable[..., UnitOfWork],
    read_schema: type[BaseModel],
    create_schema: type[BaseModel],
    update_schema: type[BaseModel],
    prefix: str,
    filter_fields: Iterable[str] = (),
    order_fields: Iterable[str] = (),
    max_page_size: int = 100,
    tags: Sequence[str] | None = None,
    load: Load = None,
) -> APIRouter:
    """Build list, get, create (201), patch and delete (204) endpoints under `prefix`.

    `repository` is a repository class (`AsyncRepository[Model]` included) or a model;
    `unit_of_work` makes each request's unit of work: a provider, a zero-argument
    callable, or a FastAPI dependency (a callable with parameters, resolved per request,
    so the tenant and actor can come from a header or a token).
    Models with a version column answer with an `ETag`, honour `If-Match` on patch and
    delete (412 when stale) and `If-None-Match` on get (304). Soft-deletable models
    are soft-deleted. Filter and order fields may walk relationships
    (`author__username`; ordering through to-one relationships only); `load` names the
    relationships the read schema shows, loaded for every answer that carries an entity.

    Raises:
        InvalidQueryError: an unknown filter or order field, or a bad `load`.
    """
    repository_class = repository_of(repository)
    model = repository_class.model
    info = model_info(model)
    if len(info.primary_key) != 1:
        raise TypeError(
            f"crud_router needs a single-column primary key; {model.__name__} has a composite one"
        )
    if max_page_size < 1:
        raise ValueError("max_page_size must be at least 1")
    orders = list(order_fields)
    for name in orders:
        build_order_by(model, name)
    loader_options(model, load)  # a bad path fails here, not on the first request
    endpoints = _Endpoints(
        repository=repository_class,
        info=info,
        make_uow=unit_of_work_maker(unit_of_work),
        uow_dependency=unit_of_work if _is_dependency(unit_of_work) else None,
        read_schema=read_schema,
        create_schema=create_schema,
        update_schema=update_schema,
        filters=filter_params(model, filter_fields),
        order_fields=orders,
        version=info.version.key if info.version is not None else None,
        load=load,
        name=prefix.strip("/").replace("/", "_") or model.__name__.lower(),
    )
    return endpoints.router(prefix, max_page_size, list(tags) if tags else None)


def repository_of(repository: Any) -> type[AsyncRepository[Any]]:
    """Return the repository class for a repository class or a bare model.

    Raises:
        TypeError: `repository` is neither.
    """
    if isinstance(repository, type) and issubclass(repository, AsyncRepository):
        if getattr(repository, "model", None) is None:
            raise TypeError(f"{repository.__name__} has no model: use AsyncRepository[Model]")
        return repository
    if isinstance(repository, type) and hasattr(repository, "__mapper__"):
        bound: type[AsyncRepository[Any]] = AsyncRepository[repository]
        return bound
    raise TypeError(f"crud_router takes a repository class or a model, not {repository!r}")


def unit_of_work_maker(unit_of_work: Callable[..., UnitOfWork]) -> Callable[[Request], UnitOfWork]:
    """Return a per-request unit-of-work factory.

    A provider of a container class (`ShopContainer.unit_of_work`) is looked up on the
    container `setup_orm` attached to the application, so overrides made on that
    container instance (a test database) apply.
    """
    if not callable(unit_of_work):
        raise TypeError(
            "unit_of_work must be a provider, a zero-argument callable or a FastAPI dependency"
        )

    def make(request: Request) -> UnitOfWork:
        container = getattr(request.app.state, CONTAINER_STATE_KEY, None)
        factory = (
            _bound_provider(unit_of_work, container) if container is not None else unit_of_work
        )
        return factory()

    return make


def _is_dependency(unit_of_work: Any) -> bool:
    """Whether `unit_of_work` takes parameters, which FastAPI then resolves per request."""
    if isinstance(unit_of_work, providers.Provider) or not callable(unit_of_work):
        return False
    try:
        parameters = inspect.signature(unit_of_work).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters)


def _bound_provider(provider: Any, container: Any) -> Any:
    providers = getattr(container, "providers", {})
    for candidate in providers.values():
        if candidate is provider:
            return provider
    parent = getattr(container, "declarative_parent", None)
    if parent is None:
        return provider
    try:
        name = parent.resolve_provider_name(provider)
    except Exception:
        return provider  # not one of this container's providers: call it as it is
    return providers.get(name, provider)


class _Endpoints:
    """The endpoint functions of one CRUD router and what they share."""

    def __init__(self, **settings: Any) -> None:
        self.repository: type[AsyncRepository[Any]] = settings["repository"]
        self.info: ModelInfo = settings["info"]
        self.make_uow: Callable[[Request], UnitOfWork] = settings["make_uow"]
        self.uow_dependency: Callable[..., UnitOfWork] | None = settings["uow_dependency"]
        self.read_schema: type[BaseModel] = settings["read_schema"]
        self.create_schema: type[BaseModel] = settings["create_schema"]
        self.update_schema: type[BaseModel] = settings["update_schema"]
        self.filters: list[FilterParam] = settings["filters"]
        self.order_fields: list[str] = settings["order_fields"]
        self.version: str | None = settings["version"]
        self.name: str = settings["name"]
        self.load: Load = settings["load"]
        self.soft_delete = self.info.soft_delete is not None
        self.known_params = PAGINATION_PARAMS | {p.name for p in self.filters}
        self.page_schema = create_model(
            f"{self.read_schema.__name__}Page",
            items=(list[self.read_schema], ...),  # type: ignore[name-defined]
            total=(int, ...),
            page=(int, ...),
            page_size=(int, ...),
            total_pages=(int, ...),
            has_next=(bool, ...),
            has_prev=(bool, ...),
        )

    # -- routes -------------------------------------------------------------------

    def router(self, prefix: str, max_page_size: int, tags: list[str] | None) -> APIRouter:
        router = APIRouter(prefix=prefix, tags=list(tags or [self.name]))
        pk = self.info.primary_key[0]
        pk_type = pk.python_type or str
        item_path = "/{item_id:int}" if pk_type is int else "/{item_id}"
        item_id = _kw("item_id", Annotated[pk_type, Path()])
        request = _kw("request", Request)
        uow = (
            [_kw("uow", Annotated[UnitOfWork, Depends(self.uow_dependency)])]
            if self.uow_dependency is not None
            else []
        )
        if_match = _kw("if_match", Annotated[str | None, Header(alias="If-Match")], None)
        if_none_match = _kw(
            "if_none_match", Annotated[str | None, Header(alias="If-None-Match")], None
        )
        versioned = self.version is not None
        keyed = [Depends(idempotent)]  # the Idempotency-Key header (setup_orm(idempotency=True))
        errors = dict(ERROR_RESPONSES)
        if versioned:
            errors[304] = {"description": "Not modified: `If-None-Match` names this version"}
        else:
            del errors[412]  # no version, so no If-Match to be stale

        list_params = [
            request,
            _kw("page", Annotated[int, Query(ge=1)], 1),
            _kw("page_size", Annotated[int, Query(ge=1, le=max_page_size)], min(20, max_page_size)),
            _kw("order_by", Annotated[str | None, Query(description=self._order_help())], None),
        ]
        for index, param in enumerate(self.filters):
            query = Query(alias=param.name, description=param.description)
            list_params.append(_kw(f"f{index}", Annotated[param.annotation | None, query], None))
        list_params += uow
        router.add_api_route(
            "", _signed(self.list_items, list_params), methods=["GET"], name=f"{self.name}:list",
            response_model=self.page_schema, responses=_pick(errors, 409, 422, 500, 503),
            summary=f"List {self.name}", route_class_override=QueryRoute,
        )  # fmt: skip
        get_params = [request, item_id] + ([if_none_match] if versioned else []) + uow
        router.add_api_route(
            item_path, _signed(self.get_item, get_params), methods=["GET"], name=f"{self.name}:get",
            response_model=self.read_schema, responses=_pick(errors, 304, 404, 409, 422, 500, 503),
            summary=f"Get one of {self.name}",
        )  # fmt: skip
        create_params = [request, _kw("payload", Annotated[self.create_schema, Body()]), *uow]
        router.add_api_route(
            "", _signed(self.create_item, create_params), methods=["POST"],
            name=f"{self.name}:create", status_code=201, response_model=self.read_schema,
            dependencies=keyed,
            responses=_pick(errors, 409, 422, 500, 503), summary=f"Create one of {self.name}",
        )  # fmt: skip
        patch_params = [request, item_id, _kw("payload", Annotated[self.update_schema, Body()])]
        patch_params += ([if_match] if versioned else []) + uow
        router.add_api_route(
            item_path, _signed(self.patch_item, patch_params), methods=["PATCH"],
            name=f"{self.name}:patch", response_model=self.read_schema, dependencies=keyed,
            responses=_pick(errors, 404, 409, 412, 422, 500, 503),
            summary=f"Update one of {self.name}",
        )  # fmt: skip
        delete_params = [request, item_id] + ([if_match] if versioned else []) + uow
        router.add_api_route(
            item_path, _signed(self.delete_item, delete_params), methods=["DELETE"],
            name=f"{self.name}:delete", status_code=204, response_class=Response,
            dependencies=keyed,
            responses=_pick(errors, 404, 409, 412, 422, 500, 503),
            summary=f"Delete one of {self.name}",
        )  # fmt: skip
        return router

    async def list_items(
        self,
        request: Request,
        page: int,
        page_size: int,
        order_by: str | None,
        uow: UnitOfWork | None = None,
        **raw: Any,
    ) -> Response:
        check_known(request.query_params.keys(), self.known_params)
        values = {p.name: raw[f"f{i}"] for i, p in enumerate(self.filters)}
        lookups = parse_filters(self.filters, values)
        ordering = parse_order_by(order_by, self.order_fields)
        async with self._unit(request, uow) as uow:
            result = await uow.repository(self.repository).paginate(
                page=page, page_size=page_size, order_by=ordering, load=self.load, **lookups
            )
            body = self.page_schema(
                items=[self._read(entity) for entity in result.items],
                total=result.total,
                page=result.page,
                page_size=result.page_size,
                total_pages=result.total_pages,
                has_next=result.has_next,
                has_prev=result.has_prev,
            )
        return Response(body.model_dump_json(), media_type=JSON)

    async def get_item(
        self,
        request: Request,
        item_id: Any,
        if_none_match: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> Response:
        async with self._unit(request, uow) as uow:
            entity = await uow.repository(self.repository).get_one(item_id, load=self.load)
            body = self._read(entity)
        headers = self._etag(entity)
        if (
            self.version
            and if_none_match is not None
            and matches(if_none_match, entity, self.version)
        ):
            return Response(status_code=304, headers=headers)
        return Response(body.model_dump_json(), media_type=JSON, headers=headers)

    async def create_item(
        self, request: Request, payload: BaseModel, uow: UnitOfWork | None = None
    ) -> Response:
        values = self._values(payload, partial=False)
        async with self._unit(request, uow) as uow:
            repo = uow.repository(self.repository)
            entity = await repo.create(**values)
            if self.load is not None:
                pk = getattr(entity, self.info.primary_key[0].key)
                entity = await repo.get_one(pk, load=self.load)
            body = self._read(entity)
        pk = getattr(entity, self.info.primary_key[0].key)
        headers = {
            "Location": str(request.url_for(f"{self.name}:get", item_id=pk)),
            **self._etag(entity),
        }
        return Response(body.model_dump_json(), status_code=201, media_type=JSON, headers=headers)

    async def patch_item(
        self,
        request: Request,
        item_id: Any,
        payload: BaseModel,
        if_match: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> Response:
        values = self._values(payload, partial=True)
        async with self._unit(request, uow) as uow:
            repo = uow.repository(self.repository)
            entity = await repo.get_one(item_id, load=self.load)
            if self.version:
                check_if_match(if_match, entity, self.version)
            if values:
                # the UPDATE checks the version it read, so the If-Match check is atomic
                entity = await repo.update_fields(entity, **values)
            body = self._read(entity)
        return Response(body.model_dump_json(), media_type=JSON, headers=self._etag(entity))

    async def delete_item(
        self,
        request: Request,
        item_id: Any,
        if_match: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> Response:
        async with self._unit(request, uow) as uow:
            repo = uow.repository(self.repository)
            if self.version and if_match is not None:
                check_if_match(if_match, await repo.get_one(item_id), self.version)
            deleted = await (
                repo.soft_delete(item_id) if self.soft_delete else repo.delete(item_id)
            )
            if not deleted:
                raise NotFoundError(
                    f"{self.info.model.__name__} not found",
                    {"model": self.info.model.__name__, "filters": {"id": item_id}},
                )
        return Response(status_code=204)

    # -- helpers ------------------------------------------------------------------

    def _unit(self, request: Request, given: UnitOfWork | None) -> UnitOfWork:
        """The request's unit of work: the dependency's, else one from the factory."""
        return given if given is not None else self.make_uow(request)

    def _read(self, entity: Any) -> BaseModel:
        return self.read_schema.model_validate(entity, from_attributes=True)

    def _etag(self, entity: Any) -> dict[str, str]:
        return {"ETag": etag_for(entity, self.version)} if self.version else {}

    def _values(self, payload: BaseModel, *, partial: bool) -> dict[str, Any]:
        """Field values of a body; a null for a NOT NULL column is refused before SQL."""
        given = payload.model_fields_set
        values = {
            key: value
            for key, value in payload.model_dump(exclude_unset=partial).items()
            if partial or key in given or value is not None
        }
        for key, value in values.items():
            field = self.info.fields.get(key)
            if value is None and field is not None and not field.column.nullable:
                raise InvalidQueryError(f"{key!r} cannot be null", {"field": key})
        return values

    def _order_help(self) -> str:
        allowed = ", ".join(self.order_fields) or "none"
        return f"comma-separated fields, `-` for descending; allowed: {allowed}"


def _kw(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


def _signed(method: Callable[..., Any], params: list[inspect.Parameter]) -> Callable[..., Any]:
    """Wrap a bound method in a function whose signature FastAPI reads for its parameters."""

    async def endpoint(**kwargs: Any) -> Any:
        return await method(**kwargs)

    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    endpoint.__name__ = method.__name__
    endpoint.__doc__ = method.__doc__
    return endpoint


def _pick(
    responses: dict[int | str, dict[str, Any]], *codes: int
) -> dict[int | str, dict[str, Any]]:
    return {code: responses[code] for code in codes if code in responses}
