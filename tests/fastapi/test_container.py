"""`OrmContainer`, its configuration sources, and `setup_orm`'s lifespan handling."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
from dependency_injector import providers
from fastapi import FastAPI
from pydantic import BaseModel

from orm_core import Database
from orm_fastapi import OrmContainer, configure_database, settings_from_env, setup_orm
from orm_fastapi.container import DATABASE_DEFAULTS, database_from_settings
from tests.support import ShopUoW


class ShopContainer(OrmContainer):
    unit_of_work = providers.Factory(ShopUoW, database=OrmContainer.database)


async def test_config_values_build_the_database_singleton(tmp_path):
    container = OrmContainer()
    url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    container.config.from_dict({"database": {"url": url, "echo": False}})
    database = container.database()
    assert isinstance(database, Database) and str(database.url) == url
    assert container.database() is database
    await database.dispose()


async def test_pool_settings_reach_the_engine():
    container = OrmContainer()
    configure_database(
        container,
        url="postgresql+asyncpg://u:p@127.0.0.1/db",
        pool_size=3,
        max_overflow=0,
        pool_timeout=2.5,
    )
    pool = container.database().engine.pool
    assert pool.size() == 3 and pool._max_overflow == 0 and pool._timeout == 2.5  # type: ignore[attr-defined]


async def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///./env.db")
    monkeypatch.setenv("DATABASE_POOL_SIZE", "4")
    monkeypatch.setenv("DATABASE_ECHO", "true")
    assert settings_from_env() == {
        "url": "sqlite+aiosqlite:///./env.db",
        "pool_size": 4,
        "echo": True,
    }
    container = OrmContainer()
    configure_database(container)
    assert container.config.database.url() == "sqlite+aiosqlite:///./env.db"
    assert container.config.database.pool_size() == 4
    monkeypatch.setenv("DATABASE_POOL_SIZE", "many")
    with pytest.raises(ValueError, match="DATABASE_POOL_SIZE"):
        settings_from_env()


async def test_settings_come_from_a_pydantic_settings_object():
    class DatabaseSettings(BaseModel):
        url: str = "sqlite+aiosqlite:///./nested.db"
        pool_timeout: float = 3.0

    class AppSettings(BaseModel):
        database: DatabaseSettings = DatabaseSettings()

    class FlatSettings(BaseModel):
        database_url: str = "sqlite+aiosqlite:///./flat.db"
        database_echo: bool = True
        debug: bool = False

    container = OrmContainer()
    configure_database(container, AppSettings())
    # every other setting keeps its default
    assert container.config.database() == {
        **DATABASE_DEFAULTS, "url": "sqlite+aiosqlite:///./nested.db", "pool_timeout": 3.0,
    }  # fmt: skip
    configure_database(container, FlatSettings())
    assert container.config.database.url() == "sqlite+aiosqlite:///./flat.db"
    assert container.config.database.echo() is True


async def test_unknown_settings_and_a_missing_url_are_refused():
    with pytest.raises(ValueError, match="unknown database settings"):
        configure_database(OrmContainer(), {"url": "sqlite+aiosqlite://", "pool": 3})
    with pytest.raises(ValueError, match="no database URL"):
        OrmContainer().database()
    with pytest.raises(ValueError, match="no database URL"):
        database_from_settings({"url": ""})


async def test_unit_of_work_factory_makes_a_fresh_unit_per_call(database):
    container = ShopContainer()
    container.database.override(providers.Object(database))
    first, second = container.unit_of_work(), container.unit_of_work()
    assert isinstance(first, ShopUoW) and first is not second
    assert first.database is database
    async with first as uow:
        await uow.products.create(sku="A", name="a", price=1)
    async with second as uow:
        assert await uow.products.count() == 1


async def test_a_test_can_override_the_database_of_one_container(database):
    production, test = ShopContainer(), ShopContainer()
    configure_database(production, url="postgresql+asyncpg://prod@db.invalid/prod")
    with test.database.override(providers.Object(database)):
        assert test.unit_of_work().database is database
    assert production.unit_of_work().database is not database


async def test_setup_orm_keeps_the_app_lifespan_and_disposes_the_database(tmp_path):
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app):
        events.append("startup")
        yield {"ready": True}
        events.append("shutdown")

    class RecordingDatabase(Database):
        async def dispose(self) -> None:
            events.append("dispose")
            await super().dispose()

    container = OrmContainer()
    container.database.override(
        providers.Object(RecordingDatabase(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"))
    )
    app = FastAPI(lifespan=lifespan)
    setup_orm(app, container)
    async with app.router.lifespan_context(app) as state:
        assert state == {"ready": True}
        assert events == ["startup"]
    assert events == ["startup", "shutdown", "dispose"]


async def test_setup_orm_disposes_even_when_the_app_lifespan_fails(tmp_path):
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app):
        raise RuntimeError("startup failed")
        yield

    class RecordingDatabase(Database):
        async def dispose(self) -> None:
            events.append("dispose")

    container = OrmContainer()
    container.database.override(
        providers.Object(RecordingDatabase(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"))
    )
    app = FastAPI(lifespan=lifespan)
    setup_orm(app, container)
    with pytest.raises(RuntimeError):
        async with app.router.lifespan_context(app):
            pass
    assert events == ["dispose"]


async def test_setup_orm_wires_the_given_modules(database):
    import sys
    import types

    from dependency_injector.wiring import Provide, inject

    module = types.ModuleType("wired_endpoints_for_test")

    @inject
    def current_uow(uow=Provide[ShopContainer.unit_of_work]):
        return uow

    module.current_uow = current_uow
    sys.modules[module.__name__] = module
    container = ShopContainer()
    container.database.override(providers.Object(database))
    try:
        setup_orm(FastAPI(), container, modules=[module])
        assert module.current_uow().database is database
    finally:
        container.unwire()
        del sys.modules[module.__name__]


async def test_timeouts_come_from_the_environment_and_reach_the_database(tmp_path):
    environ = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'env.db'}",
        "DATABASE_STATEMENT_TIMEOUT": "2.5",
        "DATABASE_LOCK_TIMEOUT": "0.5",
    }
    settings = settings_from_env(environ)
    assert (settings["statement_timeout"], settings["lock_timeout"]) == (2.5, 0.5)
    container = OrmContainer()
    configure_database(container, settings)
    database = container.database()
    try:
        assert (database.timeouts.statement, database.timeouts.lock) == (2.5, 0.5)
    finally:
        await database.dispose()
    with pytest.raises(ValueError, match="DATABASE_LOCK_TIMEOUT"):
        settings_from_env({**environ, "DATABASE_LOCK_TIMEOUT": "soon"})
