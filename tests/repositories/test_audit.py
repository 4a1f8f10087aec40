"""The audit trail: one row per affected entity, every write path, exact old and new values."""

from __future__ import annotations

import asyncio
import traceback
from decimal import Decimal

import pytest
from sqlalchemy import func, select, true

from orm_core import AuditLog, DuplicateError, off, on
from tests.models import Ledger
from tests.support import ShopUoW


async def ledger(database, **values):
    async with ShopUoW(database, actor="alice") as uow:
        return await uow.ledgers.create(owner="acme", balance=Decimal("10"), **values)


async def trail(database, ident=None) -> list[AuditLog]:
    async with ShopUoW(database, read_only=True) as uow:
        if ident is not None:
            return list(reversed(await uow.ledgers.history(ident)))
        statement = select(AuditLog).order_by(AuditLog.id)
        return list((await uow.session.execute(statement)).scalars())


WRITES = {
    "update": (lambda r, i: r.update(i, balance=Decimal("20")), "update",
               {"balance": {"old": "10.00", "new": "20.00"}}),
    "update_fields": (lambda r, i: _update_fields(r, i), "update",
                      {"balance": {"old": "10.00", "new": "21.00"}}),
    "update_where": (lambda r, i: r.update_where({"balance": Decimal("22")}, true()), "update",
                     {"balance": {"old": "10.00", "new": "22.00"}}),
    "update_where (expression)": (
        lambda r, i: r.update_where({"hits": r.model.hits + 5}, id=i), "update",
        {"hits": {"old": 0, "new": 5}}),
    "bulk_update": (lambda r, i: r.bulk_update([{"id": i, "hits": 3}]), "update",
                    {"hits": {"old": 0, "new": 3}}),
    "increment": (lambda r, i: r.increment(i, "hits", 2), "update", {"hits": {"old": 0, "new": 2}}),
    "decrement": (lambda r, i: r.decrement(i, "balance", Decimal("4")), "update",
                  {"balance": {"old": "10.00", "new": "6.00"}}),
    "update_if": (lambda r, i: r.update_if(i, {"hits": 0}, hits=9), "update",
                  {"hits": {"old": 0, "new": 9}}),
    "update_with_lock": (lambda r, i: _locked(r, i), "update", {"hits": {"old": 0, "new": 1}}),
    "upsert (update)": (lambda r, i: r.upsert(conflict_fields="owner", owner="acme", hits=4),
                        "update", {"hits": {"old": 0, "new": 4}}),
    "upsert_many (update)": (
        lambda r, i: r.upsert_many([{"owner": "acme", "hits": 6}], conflict_fields="owner"),
        "update", {"hits": {"old": 0, "new": 6}}),
    "soft_delete": (lambda r, i: r.soft_delete(i), "soft_delete", None),
    "delete": (lambda r, i: r.delete(i), "delete", {"balance": {"old": "10.00"}}),
    "delete_where": (lambda r, i: r.delete_where(owner="acme"), "delete",
                     {"balance": {"old": "10.00"}}),
}  # fmt: skip


async def _update_fields(repo, ident):
    return await repo.update_fields(await repo.get_one(ident), balance=Decimal("21"))


async def _locked(repo, ident):
    return await repo.update_with_lock(await repo.get_one(ident), hits=1)


@pytest.mark.parametrize("write", sorted(WRITES))
async def test_every_write_path_leaves_one_audit_row_with_exact_old_and_new_values(
    database, write
):
    made = await ledger(database, secret="s3cr3t")
    call, action, expected = WRITES[write]
    async with ShopUoW(database, actor="bob") as uow:
        await call(uow.ledgers, made.id)
    rows = await trail(database)
    assert [r.action for r in rows] == ["create", action]
    last = rows[-1]
    assert (last.model, last.pk, last.actor, last.tenant) == ("ledgers", str(made.id), "bob", None)
    if expected is not None:
        changes = {k: v for k, v in last.changes.items() if k in expected}
        assert changes == expected
    if action == "soft_delete":
        assert last.changes["deleted_at"]["old"] is None
        assert last.changes["deleted_at"]["new"].startswith("20")
    assert "updated_at" not in last.changes and "version" not in last.changes


async def test_creates_carry_only_new_values_and_secrets_are_redacted(database):
    made = await ledger(database, secret="s3cr3t")
    async with ShopUoW(database) as uow:
        await uow.ledgers.update(made.id, secret="other")
        await uow.ledgers.bulk_create([{"owner": "bulk", "secret": "x"}])
    created, updated, bulk = await trail(database)
    assert created.changes == {
        "owner": {"new": "acme"}, "balance": {"new": "10.00"}, "hits": {"new": 0},
        "secret": {"new": "***"}, "deleted_at": {"new": None}, "id": {"new": made.id},
    }  # fmt: skip
    assert created.actor == "alice"
    assert updated.changes == {"secret": {"old": "***", "new": "***"}}
    assert (bulk.action, bulk.changes["owner"], bulk.changes["secret"]) == (
        "create", {"new": "bulk"}, {"new": "***"},
    )


async def test_restore_and_upserts_that_insert_are_audited_too(database):
    made = await ledger(database)
    async with ShopUoW(database) as uow:
        await uow.ledgers.soft_delete(made.id)
        await uow.ledgers.restore(made.id)
        await uow.ledgers.upsert(conflict_fields="owner", owner="new", hits=1)
        await uow.ledgers.upsert_many([{"owner": "newer"}], conflict_fields="owner")
    actions = [r.action for r in await trail(database)]
    assert actions == ["create", "soft_delete", "restore", "create", "create"]


async def test_a_rolled_back_unit_leaves_no_audit_rows(database):
    made = await ledger(database)
    with pytest.raises(RuntimeError):
        async with ShopUoW(database) as uow:
            await uow.ledgers.update(made.id, hits=5)
            await uow.ledgers.bulk_create([{"owner": f"o{n}"} for n in range(5)])
            raise RuntimeError("no")
    async with ShopUoW(database) as uow:
        await uow.ledgers.increment(made.id, "hits")
        await uow.rollback()
    assert [r.action for r in await trail(database)] == ["create"]


async def test_history_is_newest_first_and_scoped_to_the_row(database):
    made = await ledger(database)
    async with ShopUoW(database) as uow:
        for _ in range(3):
            await uow.ledgers.increment(made.id, "hits")
        second = await uow.ledgers.create(owner="second")
        history = await uow.ledgers.history(made.id)
        assert [h.changes.get("hits", {}).get("new") for h in history] == [3, 2, 1, 0]
        assert [h.action for h in await uow.ledgers.history(second.id)] == ["create"]
        assert await uow.ledgers.history(2**40) == []


async def test_audit_rows_record_the_units_tenant(database):
    async with ShopUoW(database, tenant="acme", actor="carol") as uow:
        made = await uow.ledgers.create(owner="t")
    [row] = await trail(database, made.id)
    assert (row.tenant, row.actor) == ("acme", "carol")


@pytest.mark.postgres
async def test_fifty_concurrent_increments_leave_fifty_chained_audit_rows(database):
    made = await ledger(database)

    async def bump() -> None:
        async with ShopUoW(database) as uow:
            await uow.ledgers.increment(made.id, "hits")

    await asyncio.gather(*(bump() for _ in range(50)))
    rows = [r for r in await trail(database, made.id) if r.action == "update"]
    assert len(rows) == 50
    pairs = sorted((r.changes["hits"]["old"], r.changes["hits"]["new"]) for r in rows)
    assert pairs == [(n, n + 1) for n in range(50)]
    async with ShopUoW(database) as uow:
        count = await uow.session.scalar(select(func.count()).select_from(AuditLog))
        assert count == 51


async def test_redacted_values_stay_out_of_logged_events_and_error_text(database):
    seen = []

    @on("after_create", Ledger)
    def keep(event):
        seen.append(event)

    try:
        await ledger(database, secret="s3cr3t")
    finally:
        off(keep)
    assert seen[0].rows[0]["secret"] == "s3cr3t"  # handlers get the real value
    assert "s3cr3t" not in repr(seen[0]) and "'secret': '***'" in repr(seen[0])
    hidden = "t0p" + "s3cr3t"  # not spelled out in this line, which a traceback shows
    with pytest.raises(DuplicateError) as caught:
        async with ShopUoW(database) as uow:
            await uow.ledgers.create(owner="acme", secret=hidden)
    assert hidden not in "".join(traceback.format_exception(caught.value))


async def test_bulk_created_rows_are_reported_with_the_keys_the_database_gave_them(database):
    reported = []

    @on("after_create", Ledger)
    def keep(event):
        reported.extend(event.rows)

    try:
        async with ShopUoW(database) as uow:
            await uow.ledgers.bulk_create([{"owner": f"a{n}"} for n in range(3)])
            await uow.ledgers.delete_where(owner="a2")  # the highest key is free again
            await uow.ledgers.bulk_create([{"owner": f"b{n}"} for n in range(4)], batch_size=3)
            # a key given for some rows only: the rows report what RETURNING says
            await uow.ledgers.bulk_create([{"id": 100, "owner": "given"}, {"owner": "free"}])
            stored = {ledger.owner: ledger.id for ledger in await uow.ledgers.list()}
    finally:
        off(keep)
    assert len(stored) == 8 and stored["given"] == 100
    assert {row["owner"]: row["id"] for row in reported if row["owner"] != "a2"} == stored
    created = [r for r in await trail(database) if r.action == "create"]
    by_owner = {r.changes["owner"]["new"]: r for r in created}
    assert {owner: int(r.pk) for owner, r in by_owner.items() if owner != "a2"} == stored
    assert all(r.changes["id"]["new"] == int(r.pk) for r in created)
