"""Autogenerate sees index, unique, nullable and type changes; `MigrationManager` in-process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import Column, Index, Integer, MetaData, String, Table, UniqueConstraint, inspect

from orm_core import NAMING_CONVENTION
from orm_core.connecting import own_engine
from orm_core.migrations import MigrationError, MigrationManager


def widgets(*, changed: bool) -> MetaData:
    """The `widgets` table before and after four kinds of change."""
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    table = Table(
        "widgets",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("code", String(40 if changed else 20), nullable=False),
        Column("size", Integer, nullable=not changed),
        Column("sku", String(30), nullable=False),
        Column("label", String(50), nullable=True),
    )
    if changed:
        table.append_constraint(UniqueConstraint("sku"))
        Index(None, table.c.label)
    return metadata


def schema(url: str) -> dict[str, object]:
    def read(sync_conn: object) -> dict[str, object]:
        inspector = inspect(sync_conn)
        columns = {c["name"]: c for c in inspector.get_columns("widgets")}
        return {
            "code_length": columns["code"]["type"].length,
            "size_nullable": columns["size"]["nullable"],
            "uniques": [u["name"] for u in inspector.get_unique_constraints("widgets")],
            "indexes": [i["name"] for i in inspector.get_indexes("widgets")],
        }

    async def run() -> dict[str, object]:
        engine = own_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_autogenerate_detects_and_applies_index_unique_nullable_and_type_changes(
    db_url: str, tmp_path: Path
) -> None:
    directory = tmp_path / "migrations"
    before = MigrationManager(db_url, widgets(changed=False), directory)
    before.init()
    first = before.revision("widgets", autogenerate=True)
    before.upgrade()
    assert before.check()

    after = MigrationManager(db_url, widgets(changed=True), directory)
    differences = after.differences()
    assert any(d.startswith("modify_type widgets.code") for d in differences), differences
    assert any(d.startswith("modify_nullable widgets.size") for d in differences), differences
    assert "add_constraint uq_widgets_sku on widgets" in differences
    assert "add_index ix_widgets_label on widgets" in differences
    assert not after.check()

    assert after.revision("change widgets", autogenerate=True) is not None
    after.upgrade()
    assert after.check(), after.differences()
    applied = schema(db_url)
    assert applied["code_length"] == 40
    assert applied["size_nullable"] is False
    assert "uq_widgets_sku" in applied["uniques"]  # type: ignore[operator]
    assert "ix_widgets_label" in applied["indexes"]  # type: ignore[operator]

    after.downgrade("-1")
    reverted = schema(db_url)
    assert reverted["code_length"] == 20 and reverted["size_nullable"] is True
    assert before.current() == first


async def test_manager_works_from_inside_a_running_event_loop(tmp_path: Path) -> None:
    manager = MigrationManager(
        f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", widgets(changed=False), tmp_path / "m"
    )
    manager.init()
    revision = manager.revision("widgets", autogenerate=True)
    manager.upgrade()
    assert manager.current() == revision
    assert await asyncio.to_thread(manager.check)
    await asyncio.to_thread(manager.downgrade, "base")
    assert manager.current() is None


def test_history_lists_revisions_newest_first_without_a_database(tmp_path: Path) -> None:
    manager = MigrationManager(None, None, tmp_path / "m")
    manager.init()
    first = manager.revision("one")
    second = manager.revision("two")
    history = manager.history()
    assert [h.revision for h in history] == [second, first]
    assert history[0].is_head and history[0].down_revision == (first,)
    assert str(history[1]).startswith("<base> -> ")
    assert manager.heads() == [second]


def test_manager_errors_are_orm_errors_with_one_line_messages(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    with pytest.raises(MigrationError, match="orm db init"):
        MigrationManager(url, None, tmp_path / "missing").upgrade()
    manager = MigrationManager(url, None, tmp_path / "m")
    manager.init()
    with pytest.raises(MigrationError, match="already holds"):
        manager.init()
    with pytest.raises(MigrationError, match="needs the models"):
        manager.check()
    with pytest.raises(MigrationError, match="nope"):
        manager.upgrade("nope")
    with pytest.raises(MigrationError, match="no database URL"):
        MigrationManager(None, None, tmp_path / "m").current()
    with pytest.raises(MigrationError, match="bad database URL"):
        MigrationManager("not a url", None, tmp_path / "m")
