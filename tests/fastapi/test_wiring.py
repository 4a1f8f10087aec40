"""`setup_orm` refuses endpoint modules whose injected parameters cannot be wired."""

from __future__ import annotations

import importlib
import sys
import textwrap

import httpx
import pytest
from dependency_injector import containers, providers
from fastapi import FastAPI

from orm_fastapi import setup_orm


class Service:
    pass


class AppContainer(containers.DeclarativeContainer):
    service = providers.Factory(Service)


ANNOTATED = """
    {future}
    from typing import Annotated
    from fastapi import APIRouter, Depends
    from dependency_injector.wiring import Provide, inject
    from tests.fastapi.test_wiring import AppContainer, Service

    router = APIRouter()

    @router.get("/kind")
    @inject
    async def kind(service: Annotated[Service, Depends(Provide[AppContainer.service])]) -> dict:
        return {{"kind": type(service).__name__}}
"""
DEFAULT = """
    from __future__ import annotations
    from fastapi import APIRouter, Depends
    from dependency_injector.wiring import Provide, inject
    from tests.fastapi.test_wiring import AppContainer, Service

    router = APIRouter()

    @router.get("/kind")
    @inject
    async def kind(service: Service = Depends(Provide[AppContainer.service])) -> dict:
        return {"kind": type(service).__name__}
"""


def endpoint_module(tmp_path, monkeypatch, name: str, source: str):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)
    return importlib.import_module(name)


async def served_kind(app: FastAPI) -> str:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return (await client.get("/kind")).json()["kind"]


async def test_string_annotations_hiding_a_marker_are_refused_naming_the_function(
    tmp_path, monkeypatch
):
    module = endpoint_module(
        tmp_path, monkeypatch, "future_endpoints",
        ANNOTATED.format(future="from __future__ import annotations"),
    )  # fmt: skip
    app = FastAPI()
    app.include_router(module.router)
    with pytest.raises(TypeError, match=r"future_endpoints\.kind"):
        setup_orm(app, AppContainer(), modules=[module])


async def test_the_same_module_without_string_annotations_gets_its_service(
    tmp_path, monkeypatch
):
    module = endpoint_module(tmp_path, monkeypatch, "plain_endpoints", ANNOTATED.format(future=""))
    app = FastAPI()
    app.include_router(module.router)
    setup_orm(app, AppContainer(), modules=[module])
    assert await served_kind(app) == "Service"


async def test_a_marker_in_the_default_value_works_with_string_annotations(tmp_path, monkeypatch):
    module = endpoint_module(tmp_path, monkeypatch, "default_endpoints", DEFAULT)
    app = FastAPI()
    app.include_router(module.router)
    setup_orm(app, AppContainer(), modules=["default_endpoints"])
    assert await served_kind(app) == "Service"
