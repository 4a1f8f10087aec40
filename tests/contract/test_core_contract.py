"""Black-box checks of orm_core against the public contract (models, database, unit of work,
errors, retry, serialization and schemas), written only against the public imports."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError
from sqlalchemy import JSON, DateTime, Enum, Numeric, Uuid, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase

from orm_core import (
    Base,
    CommitUnknownError,
    ConcurrentModificationError,
    ConstraintError,
    Database,
    DatabaseError,
    DatabaseUnavailableError,
    DuplicateError,
    InvalidQueryError,
    LockNotAvailableError,
    NotFoundError,
    OrmError,
    TransactionConflictError,
    TransactionError,
    UnitOfWork,
    changed_fields,
    diff,
    retry_transaction,
    schema_for,
    to_dict,
    to_json,
)
from orm_repositories import AsyncRepository
from tests.contract.models import Gadget, GadgetOrder, Memo, Shade, Wallet


class GadgetRepository(AsyncRepository[Gadget]):
    async def cheapest(self, n: int) -> list[Gadget]:
        return await self.list(order_by="price", limit=n)


class ShopUnitOfWork(UnitOfWork):
    gadgets: GadgetRepository
    orders: AsyncRepository[GadgetOrder]
    memos: AsyncRepository[Memo]
    wallets: AsyncRepository[Wallet]


def gadget(n: int = 1, **extra: object) -> dict[str, object]:
    return {"sku": f"C-{n}", "name": f"Gadget {n}", "price": Decimal("9.99"), **extra}


# --- Models stay plain -------------------------------------------------------------------


def test_base_is_a_declarative_base_with_a_naming_convention():
    assert issubclass(Base, DeclarativeBase)
    convention = Base.metadata.naming_convention
    for key in ("ix", "uq", "ck", "fk", "pk"):
        assert key in convention


def test_base_type_map_gives_numeric_uuid_json_aware_datetime_and_enum():
    columns = Memo.__table__.c
    price = Gadget.__table__.c.price.type
    assert isinstance(price, Numeric) and (price.precision, price.scale) == (12, 2)
    assert isinstance(columns.token.type, Uuid)
    assert isinstance(columns.meta.type, JSON)
    seen_type = columns.seen_at.type
    assert seen_type.timezone is True
    assert isinstance(getattr(seen_type, "impl", seen_type), DateTime)
    assert seen_type.python_type is datetime
    assert isinstance(columns.shade.type, Enum)


def test_models_carry_no_query_or_persistence_methods():
    for name in ("save", "delete", "get", "query", "objects", "create", "update", "all"):
        assert not hasattr(Gadget, name), name


async def test_timestamps_are_utc_aware_and_updated_at_moves_on_update(database):
    async with ShopUnitOfWork(database) as uow:
        g = await uow.gadgets.create(**gadget())
    assert g.created_at.tzinfo is not None and g.created_at.utcoffset().total_seconds() == 0
    assert g.updated_at is not None
    before = g.updated_at
    await asyncio.sleep(0.01)
    async with ShopUnitOfWork(database) as uow:
        assert await uow.gadgets.update_where({"stock": 5}, id=g.id) == 1
    async with ShopUnitOfWork(database) as uow:
        fresh = await uow.gadgets.get_one(g.id)
        assert fresh.updated_at > before
        assert fresh.updated_at.tzinfo is not None


async def test_soft_delete_mixin_has_deleted_at_none_by_default(database):
    async with ShopUnitOfWork(database) as uow:
        memo = await uow.memos.create(title="hello")
    assert memo.deleted_at is None


async def test_a_plain_flush_of_a_stale_versioned_object_is_a_concurrent_modification(
    database,
):
    async with ShopUnitOfWork(database) as uow:
        wallet = await uow.wallets.create(owner="ann")
    assert wallet.version == 1
    async with ShopUnitOfWork(database) as uow:
        current = await uow.wallets.get_one(wallet.id)
        current.balance = Decimal("1")
    assert current.version == 2
    with pytest.raises(ConcurrentModificationError):
        async with ShopUnitOfWork(database) as uow:
            stale = await uow.session.merge(wallet, load=False)
            stale.balance = Decimal("2")
            await uow.session.flush()
    async with ShopUnitOfWork(database) as uow:
        assert (await uow.wallets.get_one(wallet.id)).balance == Decimal("1")


# --- Database -----------------------------------------------------------------------------


async def test_database_exposes_engine_session_factory_and_sessions(database):
    assert isinstance(database.engine, AsyncEngine)
    assert isinstance(database.session_factory, async_sessionmaker)
    async with database.session() as session:
        assert isinstance(session, AsyncSession)
        g = Gadget(**gadget())
        session.add(g)
        await session.commit()
        # expire_on_commit=False: attributes stay readable without I/O
        assert g.name == "Gadget 1"


async def test_ping_is_true_when_reachable_and_false_never_raising():
    down = Database("postgresql+asyncpg://nobody:secret@127.0.0.1:1/none", pool_timeout=1)
    try:
        assert await down.ping() is False
        report = await down.health_check()
    finally:
        await down.dispose()
    assert report["status"] == "unhealthy"
    assert "secret" not in report["database_url"]


async def test_health_check_reports_status_time_dialect_masked_url_and_pool(database):
    report = await database.health_check()
    assert set(report) >= {"status", "response_time_ms", "dialect", "database_url", "pool"}
    assert report["status"] == "healthy"
    assert isinstance(report["response_time_ms"], float)
    assert report["dialect"] == database.engine.dialect.name
    assert isinstance(report["pool"], dict)


async def test_health_check_masks_the_password():
    db = Database("postgresql+asyncpg://user:s3cr3t@127.0.0.1:1/app")
    try:
        report = await db.health_check()
    finally:
        await db.dispose()
    assert "s3cr3t" not in report["database_url"]
    assert "***" in report["database_url"]
    assert "user" in report["database_url"]


async def test_pool_status_has_the_four_counts(database):
    status = database.pool_status()
    assert set(status) == {"pool_size", "checked_out", "checked_in", "overflow"}
    assert all(isinstance(v, int) for v in status.values())


async def test_fetch_all_fetch_one_and_execute_use_bound_parameters(database):
    async with ShopUnitOfWork(database) as uow:
        await uow.gadgets.bulk_create([gadget(1), gadget(2, stock=3)])
    rows = await database.fetch_all(
        "SELECT sku, stock FROM contract_gadgets WHERE stock >= :s ORDER BY sku", {"s": 0}
    )
    assert rows == [{"sku": "C-1", "stock": 0}, {"sku": "C-2", "stock": 3}]
    assert isinstance(rows[0], dict)
    one = await database.fetch_one("SELECT sku FROM contract_gadgets WHERE stock = :s", {"s": 3})
    assert one == {"sku": "C-2"}
    assert await database.fetch_one("SELECT sku FROM contract_gadgets WHERE stock = 99") is None
    changed = await database.execute("UPDATE contract_gadgets SET stock = :s", {"s": 7})
    assert changed == 2
    assert await database.fetch_all("SELECT 1 AS x WHERE 1 = 0") == []


async def test_raw_sql_errors_are_translated(database):
    with pytest.raises(OrmError):
        await database.fetch_all("SELECT * FROM contract_no_such_table")
    async with ShopUnitOfWork(database) as uow:
        await uow.gadgets.create(**gadget())
    with pytest.raises(DuplicateError):
        await database.execute(
            "INSERT INTO contract_gadgets (sku, name, price, stock, view_count, created_at,"
            " updated_at) VALUES ('C-1', 'x', 1, 0, 0, :t, :t)",
            {"t": datetime.now(UTC)},
        )


async def test_database_signature_accepts_pool_options_and_engine_options(tmp_path):
    db = Database(
        f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        echo=False,
        pool_size=None,
        max_overflow=None,
        pool_timeout=5.0,
        connect_args={"timeout": 5},
    )
    try:
        await db.create_all(Base.metadata)
        assert await db.ping() is True
        await db.drop_all(Base.metadata)
    finally:
        await db.dispose()


@pytest.mark.sqlite
async def test_sqlite_connections_have_foreign_keys_wal_and_busy_timeout(database):
    async with database.engine.connect() as conn:
        fk = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar()
        mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
        busy = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
    assert fk == 1
    assert str(mode).lower() == "wal"
    assert busy > 0


# --- UnitOfWork ---------------------------------------------------------------------------


async def test_clean_exit_commits_and_exception_rolls_back_and_propagates(database):
    async with ShopUnitOfWork(database) as uow:
        await uow.gadgets.create(**gadget(1))
    with pytest.raises(RuntimeError, match="boom"):
        async with ShopUnitOfWork(database) as uow:
            await uow.gadgets.create(**gadget(2))
            raise RuntimeError("boom")
    async with ShopUnitOfWork(database) as uow:
        assert [g.sku for g in await uow.gadgets.list(order_by="sku")] == ["C-1"]


async def test_aenter_returns_the_unit_of_work_itself(database):
    uow = ShopUnitOfWork(database)
    async with uow as entered:
        assert entered is uow


async def test_entering_an_active_unit_of_work_raises_transaction_error(database):
    uow = ShopUnitOfWork(database)
    async with uow:
        with pytest.raises(TransactionError):
            async with uow:
                pass
        await uow.gadgets.create(**gadget())
    async with ShopUnitOfWork(database) as check:
        assert await check.gadgets.count() == 1


async def test_session_outside_the_block_raises_transaction_error(database):
    uow = ShopUnitOfWork(database)
    with pytest.raises(TransactionError):
        uow.session  # noqa: B018
    async with uow:
        assert isinstance(uow.session, AsyncSession)
    with pytest.raises(TransactionError):
        uow.session  # noqa: B018


async def test_one_instance_may_be_entered_again_with_a_fresh_session(database):
    uow = ShopUnitOfWork(database)
    async with uow:
        first = uow.session
        await uow.gadgets.create(**gadget(1))
    async with uow:
        assert uow.session is not first
        await uow.gadgets.create(**gadget(2))
        assert await uow.gadgets.count() == 2


async def test_explicit_commit_and_rollback_inside_the_block_continue_in_a_new_transaction(
    database,
):
    async with ShopUnitOfWork(database) as uow:
        await uow.gadgets.create(**gadget(1))
        await uow.commit()
        await uow.gadgets.create(**gadget(2))
        await uow.rollback()
        await uow.gadgets.create(**gadget(3))
    async with ShopUnitOfWork(database) as uow:
        assert [g.sku for g in await uow.gadgets.list(order_by="sku")] == ["C-1", "C-3"]


async def test_savepoint_rolls_back_only_its_own_block(database):
    async with ShopUnitOfWork(database) as uow:
        await uow.gadgets.create(**gadget(1))
        with pytest.raises(RuntimeError):
            async with uow.savepoint():
                await uow.gadgets.create(**gadget(2))
                raise RuntimeError("inner")
        async with uow.savepoint():
            await uow.gadgets.create(**gadget(3))
    async with ShopUnitOfWork(database) as uow:
        assert [g.sku for g in await uow.gadgets.list(order_by="sku")] == ["C-1", "C-3"]


async def test_savepoint_turns_a_duplicate_into_duplicate_error_and_keeps_the_outer_work(
    database,
):
    async with ShopUnitOfWork(database) as uow:
        await uow.gadgets.create(**gadget(1))
        with pytest.raises(DuplicateError):
            async with uow.savepoint():
                await uow.gadgets.create(**gadget(1))
        await uow.gadgets.create(**gadget(2))
    async with ShopUnitOfWork(database) as uow:
        assert await uow.gadgets.count() == 2


async def test_repository_by_model_by_class_and_by_alias_share_the_session(database):
    async with ShopUnitOfWork(database) as uow:
        by_model = uow.repository(Gadget)
        by_class = uow.repository(GadgetRepository)
        by_alias = uow.repository(AsyncRepository[GadgetOrder])
        assert isinstance(by_model, AsyncRepository) and by_model.session is uow.session
        assert isinstance(by_class, GadgetRepository) and by_class.session is uow.session
        assert isinstance(by_alias, AsyncRepository) and by_alias.session is uow.session
        assert by_model.model is Gadget and by_alias.model is GadgetOrder
        assert isinstance(uow.gadgets, GadgetRepository)
        assert uow.gadgets.session is uow.session
        assert uow.orders.model is GadgetOrder
        g = await by_class.create(**gadget())
        assert (await uow.gadgets.cheapest(1))[0] is g


async def test_annotated_repositories_are_built_per_session(database):
    uow = ShopUnitOfWork(database)
    async with uow:
        first = uow.gadgets
        assert uow.gadgets is first
    async with uow:
        assert uow.gadgets is not first
        assert uow.gadgets.session is uow.session


async def test_unknown_attribute_is_an_attribute_error(database):
    async with ShopUnitOfWork(database) as uow:
        with pytest.raises(AttributeError):
            uow.nothing_here  # noqa: B018


async def test_on_commit_runs_sync_and_async_callbacks_once_after_commit(database):
    calls: list[str] = []

    async def async_cb() -> None:
        calls.append("async")

    async with ShopUnitOfWork(database) as uow:
        await uow.gadgets.create(**gadget())
        uow.on_commit(lambda: calls.append("sync"))
        uow.on_commit(async_cb)
        assert calls == []
    assert calls == ["sync", "async"]


async def test_on_commit_runs_after_explicit_commit_only_once(database):
    calls: list[int] = []
    async with ShopUnitOfWork(database) as uow:
        uow.on_commit(lambda: calls.append(1))
        await uow.commit()
        assert calls == [1]
    assert calls == [1]


async def test_on_commit_never_runs_after_rollback(database):
    calls: list[str] = []
    with pytest.raises(RuntimeError):
        async with ShopUnitOfWork(database) as uow:
            uow.on_commit(lambda: calls.append("x"))
            raise RuntimeError
    async with ShopUnitOfWork(database) as uow:
        uow.on_commit(lambda: calls.append("y"))
        await uow.rollback()
    assert calls == []


async def test_on_commit_does_not_run_when_the_commit_fails(database):
    calls: list[str] = []
    async with ShopUnitOfWork(database) as uow:
        await uow.gadgets.create(**gadget())
    with pytest.raises(DuplicateError):
        async with ShopUnitOfWork(database) as uow:
            uow.session.add(Gadget(**gadget()))
            uow.on_commit(lambda: calls.append("x"))
    assert calls == []


async def test_read_only_unit_of_work_never_commits(database):
    async with ShopUnitOfWork(database) as uow:
        await uow.gadgets.create(**gadget(1))
    async with ShopUnitOfWork(database, read_only=True) as uow:
        found = await uow.gadgets.get_one(1)
        found.name = "changed"
    async with ShopUnitOfWork(database) as uow:
        assert (await uow.gadgets.get_one(1)).name == "Gadget 1"
    async with ShopUnitOfWork(database, read_only=True) as uow:
        with pytest.raises(TransactionError):
            await uow.commit()
    # entities read in a read-only block stay readable after it
    assert found.sku == "C-1"


@pytest.mark.postgres
async def test_isolation_level_applies_after_an_explicit_commit_too(database):
    async with ShopUnitOfWork(database, isolation_level="SERIALIZABLE") as uow:
        first = (await database_scalar(uow, "SHOW transaction_isolation")).lower()
        await uow.commit()
        second = (await database_scalar(uow, "SHOW transaction_isolation")).lower()
        await uow.rollback()
        third = (await database_scalar(uow, "SHOW transaction_isolation")).lower()
    assert first == second == third == "serializable"
    async with ShopUnitOfWork(database) as uow:
        assert (await database_scalar(uow, "SHOW transaction_isolation")).lower() == (
            "read committed"
        )


async def database_scalar(uow: UnitOfWork, sql: str) -> str:
    return str((await uow.session.execute(text(sql))).scalar())


async def test_repository_errors_from_a_unit_of_work_are_translated(database):
    async with ShopUnitOfWork(database) as uow:
        await uow.gadgets.create(**gadget())
    with pytest.raises(DuplicateError) as info:
        async with ShopUnitOfWork(database) as uow:
            await uow.gadgets.create(**gadget())
    assert isinstance(info.value.details, dict)
    with pytest.raises(ConstraintError):
        async with ShopUnitOfWork(database) as uow:
            await uow.orders.create(gadget_id=424242)


async def test_a_raw_flush_failure_on_exit_is_translated(database):
    async with ShopUnitOfWork(database) as uow:
        await uow.gadgets.create(**gadget())
    with pytest.raises(DuplicateError):
        async with ShopUnitOfWork(database) as uow:
            uow.session.add(Gadget(**gadget()))


def test_unknown_isolation_level_is_rejected(database_free_db):
    with pytest.raises(TransactionError):
        UnitOfWork(database_free_db, isolation_level="SOMETIMES")


@pytest.fixture
def database_free_db(tmp_path):
    return Database(f"sqlite+aiosqlite:///{tmp_path / 'y.db'}")


# --- Errors -------------------------------------------------------------------------------


def test_error_tree_and_base_classes():
    for cls in (
        NotFoundError,
        DuplicateError,
        ConstraintError,
        ConcurrentModificationError,
        LockNotAvailableError,
        InvalidQueryError,
        TransactionError,
        TransactionConflictError,
        CommitUnknownError,
        DatabaseError,
        DatabaseUnavailableError,
    ):
        assert issubclass(cls, OrmError), cls
    assert issubclass(NotFoundError, LookupError)
    assert issubclass(InvalidQueryError, ValueError)
    err = OrmError("msg", {"a": 1})
    assert err.message == "msg" and err.details == {"a": 1}
    assert OrmError("m").details == {}


async def test_not_found_details_name_model_and_filters(database):
    async with ShopUnitOfWork(database) as uow:
        with pytest.raises(NotFoundError) as info:
            await uow.gadgets.get_one(99)
        assert set(info.value.details) >= {"model", "filters"}
        assert info.value.details["model"] == "Gadget"
        with pytest.raises(NotFoundError) as info:
            await uow.gadgets.update(99, name="x")
        assert set(info.value.details) >= {"model", "filters"}
        assert isinstance(info.value.message, str) and info.value.message


async def test_duplicate_details_name_the_constraint_or_fields(database):
    async with ShopUnitOfWork(database) as uow:
        await uow.gadgets.create(**gadget())
    with pytest.raises(DuplicateError) as info:
        async with ShopUnitOfWork(database) as uow:
            await uow.gadgets.create(**gadget())
    details = info.value.details
    assert "sku" in json.dumps(details, default=str)


async def test_unreachable_database_is_database_unavailable():
    db = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none", pool_timeout=1)
    try:
        with pytest.raises(DatabaseUnavailableError):
            async with UnitOfWork(db) as uow:
                await uow.repository(Gadget).count()
        with pytest.raises(DatabaseUnavailableError):
            await db.fetch_all("SELECT 1")
    finally:
        await db.dispose()


# --- retry_transaction --------------------------------------------------------------------


async def test_retry_transaction_returns_what_work_returns(database):
    async def work(uow: ShopUnitOfWork) -> str:
        await uow.gadgets.create(**gadget())
        return "done"

    assert await retry_transaction(lambda: ShopUnitOfWork(database), work) == "done"
    async with ShopUnitOfWork(database) as uow:
        assert await uow.gadgets.count() == 1


async def test_retry_transaction_retries_conflicts_with_a_fresh_unit(database):
    seen: list[ShopUnitOfWork] = []

    async def work(uow: ShopUnitOfWork) -> int:
        seen.append(uow)
        await uow.gadgets.create(**gadget(len(seen)))
        if len(seen) < 3:
            raise TransactionConflictError("conflict")
        return len(seen)

    assert await retry_transaction(lambda: ShopUnitOfWork(database), work, attempts=3) == 3
    assert len({id(u) for u in seen}) == 3
    async with ShopUnitOfWork(database) as uow:
        assert [g.sku for g in await uow.gadgets.list()] == ["C-3"]


async def test_retry_transaction_gives_up_after_the_last_attempt(database):
    calls = 0

    async def work(uow: ShopUnitOfWork) -> None:
        nonlocal calls
        calls += 1
        raise TransactionConflictError("conflict")

    with pytest.raises(TransactionConflictError):
        await retry_transaction(lambda: ShopUnitOfWork(database), work, attempts=2)
    assert calls == 2


@pytest.mark.parametrize(
    "error", [CommitUnknownError("lost"), DuplicateError("dup"), RuntimeError("other")]
)
async def test_retry_transaction_propagates_other_errors_at_once(database, error):
    calls = 0

    async def work(uow: ShopUnitOfWork) -> None:
        nonlocal calls
        calls += 1
        raise error

    with pytest.raises(type(error)):
        await retry_transaction(lambda: ShopUnitOfWork(database), work, attempts=5)
    assert calls == 1


@pytest.mark.postgres
async def test_retry_transaction_retries_a_real_serialization_failure(database):
    async with ShopUnitOfWork(database) as uow:
        g = await uow.gadgets.create(**gadget(stock=0))
    gate = asyncio.Event()
    started = 0
    attempts = 0

    async def bump(uow: ShopUnitOfWork) -> int:
        nonlocal started, attempts
        attempts += 1
        current = await uow.gadgets.get_one(g.id)
        started += 1
        if started >= 2:
            gate.set()
        await asyncio.wait_for(gate.wait(), 5)
        current.stock = current.stock + 1
        return current.stock

    def factory() -> ShopUnitOfWork:
        return ShopUnitOfWork(database, isolation_level="SERIALIZABLE")

    results = await asyncio.gather(
        retry_transaction(factory, bump, attempts=5), retry_transaction(factory, bump, attempts=5)
    )
    assert sorted(results) == [1, 2]
    assert attempts >= 3
    async with ShopUnitOfWork(database) as uow:
        assert (await uow.gadgets.get_one(g.id)).stock == 2


# --- Serialization and schemas ------------------------------------------------------------


async def test_to_dict_with_include_and_exclude(database):
    async with ShopUnitOfWork(database) as uow:
        g = await uow.gadgets.create(**gadget(category="tools"))
    full = to_dict(g)
    assert set(full) >= {"id", "sku", "name", "price", "stock", "created_at", "updated_at"}
    assert full["price"] == Decimal("9.99") and isinstance(full["price"], Decimal)
    assert to_dict(g, include=["sku", "price"]) == {"sku": "C-1", "price": Decimal("9.99")}
    assert "sku" not in to_dict(g, exclude=["sku"]) and "name" in to_dict(g, exclude=["sku"])
    assert to_dict(g, include=["sku", "name"], exclude=["name"]) == {"sku": "C-1"}


async def test_to_json_handles_decimal_uuid_datetime_date_and_enum(database):
    token = uuid.uuid4()
    seen = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    async with ShopUnitOfWork(database) as uow:
        memo = await uow.memos.create(
            title="t",
            shade=Shade.DARK,
            token=token,
            due=date(2024, 1, 2),
            seen_at=seen,
            meta={"k": [1, 2]},
        )
    data = json.loads(to_json(memo))
    assert data["token"] == str(token)
    assert data["shade"] == "dark"
    assert data["due"] == "2024-01-02"
    assert datetime.fromisoformat(data["seen_at"]) == seen
    assert data["meta"] == {"k": [1, 2]}
    g = Gadget(**gadget())
    as_json = json.loads(to_json(g, include=["price", "sku"]))
    assert as_json == {"price": "9.99", "sku": "C-1"} or as_json == {"price": 9.99, "sku": "C-1"}
    assert "\n" in to_json(g, include=["sku", "name"], indent=2)
    assert json.loads(to_json(g, exclude=["price"])).get("price") is None


def test_diff_reports_old_and_new_of_each_differing_field():
    a = Gadget(**gadget(1))
    b = Gadget(**gadget(1, name="Other", price=Decimal("1.00")))
    changes = diff(a, b)
    assert changes == {
        "name": {"old": "Gadget 1", "new": "Other"},
        "price": {"old": Decimal("9.99"), "new": Decimal("1.00")},
    }
    assert diff(a, a) == {}


async def test_changed_fields_lists_unflushed_changes_since_load(database):
    async with ShopUnitOfWork(database) as uow:
        g = await uow.gadgets.create(**gadget())
    async with ShopUnitOfWork(database) as uow:
        loaded = await uow.gadgets.get_one(g.id)
        assert changed_fields(loaded) == set()
        loaded.name = "new name"
        loaded.stock = 4
        assert changed_fields(loaded) == {"name", "stock"}
        assert isinstance(changed_fields(loaded), set)
        await uow.session.flush()
        assert changed_fields(loaded) == set()


def test_schema_for_mirrors_columns_with_from_attributes():
    schema = schema_for(Gadget)
    assert issubclass(schema, BaseModel)
    assert schema.model_config.get("from_attributes") is True
    assert {"id", "sku", "name", "price", "stock", "category"} <= set(schema.model_fields)
    now = datetime.now(UTC)
    g = Gadget(id=1, **gadget(stock=2), view_count=0, created_at=now, updated_at=now)
    model = schema.model_validate(g)
    assert model.sku == "C-1" and model.price == Decimal("9.99")
    with pytest.raises(ValidationError):
        schema.model_validate({"name": "no sku", "price": "1"})


def test_schema_for_include_exclude_and_name():
    create = schema_for(Gadget, name="GadgetCreate", include=["sku", "name", "price"])
    assert create.__name__ == "GadgetCreate"
    assert set(create.model_fields) == {"sku", "name", "price"}
    without = schema_for(Gadget, exclude=["id", "created_at", "updated_at"])
    assert "id" not in without.model_fields and "sku" in without.model_fields
    with pytest.raises(InvalidQueryError):
        schema_for(Gadget, include=["nope"])


def test_schema_for_optional_makes_every_field_optional():
    patch = schema_for(Gadget, optional=True)
    empty = patch()
    assert empty.model_dump(exclude_unset=True) == {}
    assert all(not f.is_required() for f in patch.model_fields.values())
    assert patch(name="x").model_dump(exclude_unset=True) == {"name": "x"}
    assert patch.model_config.get("from_attributes") is True
    with pytest.raises(ValidationError):
        patch(name="x" * 500)


async def test_schema_for_optional_reads_from_attributes_and_rejects_null_for_not_null(database):
    async with ShopUnitOfWork(database) as uow:
        g = await uow.gadgets.create(**gadget())
    patch = schema_for(Gadget, optional=True)
    read = patch.model_validate(g)
    assert read.sku == "C-1"
    with pytest.raises(ValidationError):
        patch(name=None)
    assert patch(category=None).model_dump(exclude_unset=True) == {"category": None}


def test_diff_accepts_dicts_and_rejects_different_models():
    assert diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == {
        "b": {"old": 2, "new": 3},
        "c": {"old": None, "new": 4},
    }
    with pytest.raises(InvalidQueryError):
        diff(Gadget(**gadget()), Memo(title="x"))


def test_to_dict_rejects_unknown_field_names():
    with pytest.raises(InvalidQueryError):
        to_dict(Gadget(**gadget()), include=["nope"])
    with pytest.raises(InvalidQueryError):
        to_json(Gadget(**gadget()), exclude=["nope"])


async def test_lower_case_isolation_level_is_accepted(database):
    async with ShopUnitOfWork(database, isolation_level="serializable") as uow:
        await uow.gadgets.create(**gadget())
    async with ShopUnitOfWork(database, read_only=True) as uow:
        assert await uow.gadgets.count() == 1


async def test_retry_transaction_with_one_attempt_does_not_retry(database):
    calls = 0

    async def work(uow: ShopUnitOfWork) -> None:
        nonlocal calls
        calls += 1
        raise TransactionConflictError("conflict")

    with pytest.raises(TransactionConflictError):
        await retry_transaction(lambda: ShopUnitOfWork(database), work, attempts=1)
    assert calls == 1
