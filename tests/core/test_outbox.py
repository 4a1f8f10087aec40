"""The outbox: publishing in a unit's transaction, and relays delivering in order, at least once."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import event, inspect, select

from orm_core import (
    Database,
    DatabaseUnavailableError,
    InvalidQueryError,
    OutboxMessage,
    TransactionError,
    UnitOfWork,
    relay_outbox,
    to_json,
)
from orm_core.outbox import publish
from tests.models import Note, Product
from tests.support import ShopUoW, recorded

# a relay on PostgreSQL holds session-level advisory locks: it needs one server session
relays = pytest.mark.server_session


async def _publish(db: Database, *messages: tuple[str, object]) -> list[int]:
    async with UnitOfWork(db) as uow:
        return [(await uow.publish(topic, payload)).id for topic, payload in messages]


async def _stored(db: Database) -> list[dict]:
    return await db.fetch_all("SELECT id, topic, delivered_at FROM orm_outbox ORDER BY id")


class Collector:
    """A `deliver` that records what it got, optionally failing on some messages."""

    def __init__(self, fail_on: set[int] | None = None) -> None:
        self.fail_on = fail_on or set()
        self.seen: list[OutboxMessage] = []

    async def __call__(self, message: OutboxMessage) -> None:
        if message.id in self.fail_on:
            raise RuntimeError(f"consumer down for {message.id}")
        self.seen.append(message)

    @property
    def ids(self) -> list[int]:
        return [m.id for m in self.seen]


# -- publishing ---------------------------------------------------------------------------


@relays
async def test_messages_of_a_committed_unit_are_relayed_once_in_publication_order(database):
    ids = await _publish(database, ("orders", {"n": 1}), ("orders", {"n": 2}), ("orders", [3]))
    assert ids == sorted(ids)
    deliver = Collector()
    assert await relay_outbox(database, deliver) == 3
    assert deliver.ids == ids
    assert [m.payload for m in deliver.seen] == [{"n": 1}, {"n": 2}, [3]]
    first = deliver.seen[0]
    assert first.topic == "orders" and first.created_at.tzinfo is not None
    assert first.delivered_at is not None
    assert await relay_outbox(database, deliver) == 0
    assert deliver.ids == ids
    assert all(row["delivered_at"] is not None for row in await _stored(database))


async def test_a_rolled_back_unit_publishes_nothing(database):
    with pytest.raises(RuntimeError):
        async with UnitOfWork(database) as uow:
            await uow.publish("orders", {"n": 1})
            raise RuntimeError("abort")
    async with UnitOfWork(database) as uow:
        await uow.publish("orders", {"n": 2})
        await uow.rollback()
        await uow.publish("orders", {"n": 3})
    assert [r["topic"] for r in await _stored(database)] == ["orders"]
    deliver = Collector()
    assert await relay_outbox(database, deliver) == 1
    assert [m.payload for m in deliver.seen] == [{"n": 3}]


async def test_payload_decimals_datetimes_and_uuids_are_converted_as_to_json_does(database):
    token = uuid.uuid4()
    moment = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    payload = {"price": Decimal("9.99"), "at": moment, "token": token, "tags": ["a"], "n": None}
    async with UnitOfWork(database) as uow:
        published = await uow.publish("prices", payload)
        note = await uow.repository(Note).create(title="t", token=token, seen_at=moment)
    expected = {"price": "9.99", "at": moment.isoformat(), "token": str(token), "tags": ["a"],
                "n": None}  # fmt: skip
    assert published.payload == expected
    note_json = to_json(note, include=["token", "seen_at"])
    assert f'"{expected["token"]}"' in note_json and f'"{expected["at"]}"' in note_json
    deliver = Collector()
    await relay_outbox(database, deliver)
    assert deliver.seen[0].payload == expected
    assert list(deliver.seen[0].payload) == list(expected)  # JSON text keeps key order


async def test_bad_topics_and_payloads_are_refused_before_any_sql(database):
    async with UnitOfWork(database) as uow:
        with recorded(database) as log:
            for topic in ("", "x" * 201, "a\x00b", 42):
                with pytest.raises(InvalidQueryError) as caught:
                    await uow.publish(topic, {})  # type: ignore[arg-type]
                assert caught.value.details["field"] == "topic"
            for payload in ({"x": object()}, {"x": float("nan")}):
                with pytest.raises(InvalidQueryError) as caught:
                    await uow.publish("t", payload)
                assert caught.value.details["field"] == "payload"
        assert log.queries == []
        await uow.publish("t", {"ok": True})  # the unit is still usable
    assert len(await _stored(database)) == 1


async def test_a_read_only_unit_or_an_inactive_one_cannot_publish(database):
    async with UnitOfWork(database, read_only=True) as uow:
        with pytest.raises(TransactionError):
            await uow.publish("t", {})
        with pytest.raises(TransactionError):
            await publish(uow.session, "t", {})
    with pytest.raises(TransactionError):
        await UnitOfWork(database).publish("t", {})


async def test_publishing_is_one_insert_that_flushes_nothing_else(database):
    async with ShopUoW(database) as uow:
        product = Product(sku="P-1", name="p", price=Decimal("1.00"))
        uow.session.add(product)
        with recorded(database) as log:
            await uow.publish("products", {"sku": "P-1"})
        assert len(log.queries) == 1 and "orm_outbox" in log.queries[0]
        assert product.id is None  # still pending: not flushed by the publish
        await uow.products.update_where({"stock": 5}, sku="none")
        assert "orm_outbox" in uow.written_tables
    async with ShopUoW(database) as uow:
        assert await uow.products.count() == 1
    assert len(await _stored(database)) == 1


async def test_publish_takes_a_bare_session_too(database):
    async with database.session() as session:
        message = await publish(session, "t", {"n": 1})
        await session.commit()
    rows = await _stored(database)
    assert [r["id"] for r in rows] == [message.id]


# -- relaying -----------------------------------------------------------------------------


@relays
async def test_a_failing_delivery_holds_back_its_topic_while_other_topics_are_delivered(database):
    ids = await _publish(
        database,
        ("a", 1), ("b", 1), ("a", 2), ("c", 1), ("a", 3), ("b", 2), ("a", 4),
    )  # fmt: skip
    a1, b1, a2, c1, a3, b2, a4 = ids
    deliver = Collector(fail_on={a2, b1})
    with pytest.raises(RuntimeError, match=f"consumer down for {b1}|consumer down for {a2}"):
        await relay_outbox(database, deliver)
    assert deliver.ids == [a1, c1]  # topics in order a, b, c; a stops at a2, b at b1
    pending = [r["id"] for r in await _stored(database) if r["delivered_at"] is None]
    assert pending == [b1, a2, a3, b2, a4]
    deliver.fail_on = set()
    assert await relay_outbox(database, deliver) == 5
    assert deliver.ids == [a1, c1, a2, a3, a4, b1, b2]


@relays
async def test_the_first_error_is_raised_after_every_topic_was_tried(database):
    ids = await _publish(database, ("a", 1), ("b", 1), ("c", 1))
    deliver = Collector(fail_on={ids[0], ids[1]})
    with pytest.raises(RuntimeError, match=f"consumer down for {ids[0]}$"):
        await relay_outbox(database, deliver)
    assert deliver.ids == [ids[2]]


@relays
async def test_sync_and_async_deliver_callables_both_work(database):
    await _publish(database, ("a", 1), ("a", 2))
    got: list[int] = []
    assert await relay_outbox(database, lambda message: got.append(message.payload)) == 2
    await _publish(database, ("a", 3))

    async def deliver(message: OutboxMessage) -> None:
        await asyncio.sleep(0)
        got.append(message.payload)

    assert await relay_outbox(database, deliver) == 1
    assert got == [1, 2, 3]


@relays
async def test_batch_size_bounds_each_read(database):
    ids = await _publish(database, *[("a", n) for n in range(5)], ("b", 0))
    reads: list[tuple[str, list]] = []

    def on_execute(conn, cursor, statement, parameters, context, executemany):
        if "ORDER BY orm_outbox.id" in statement:
            reads.append((statement, list(parameters)))

    event.listen(database.engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        deliver = Collector()
        assert await relay_outbox(database, deliver, batch_size=2) == 6
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", on_execute)
    assert deliver.ids == ids
    assert all("LIMIT" in sql and 2 in params for sql, params in reads)
    assert len(reads) == 3 + 1  # a: 2 + 2 + 1, b: 1
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InvalidQueryError):
            await relay_outbox(database, deliver, batch_size=bad)  # type: ignore[arg-type]


@relays
async def test_an_empty_outbox_relays_nothing(database):
    assert await relay_outbox(database, Collector()) == 0


@relays
async def test_concurrent_relays_never_hand_a_message_out_twice_and_keep_topic_order(database):
    topics = ["t0", "t1", "t2", "t3"]
    for unit in range(10):
        await _publish(database, *[(topics[(unit + n) % 4], [unit, n]) for n in range(8)])
    busy: set[str] = set()
    delivered: list[OutboxMessage] = []

    async def deliver(message: OutboxMessage) -> None:
        assert message.topic not in busy, "a topic is being delivered by two relays"
        busy.add(message.topic)
        await asyncio.sleep(0.001)
        delivered.append(message)
        busy.discard(message.topic)

    counts = await asyncio.gather(*[relay_outbox(database, deliver, batch_size=3) for _ in "abc"])
    assert sum(counts) == 80
    ids = [m.id for m in delivered]
    assert len(ids) == len(set(ids)) == 80
    by_topic: dict[str, list[int]] = defaultdict(list)
    for message in delivered:
        by_topic[message.topic].append(message.id)
    assert all(seq == sorted(seq) for seq in by_topic.values())
    assert not [r for r in await _stored(database) if r["delivered_at"] is None]


@relays
async def test_a_cancelled_relay_gives_its_topic_back_and_the_message_is_delivered_again(
    database,
):
    a1, a2 = await _publish(database, ("a", 1), ("a", 2))
    entered = asyncio.Event()

    async def stuck(message: OutboxMessage) -> None:
        entered.set()
        await asyncio.sleep(60)

    task = asyncio.create_task(relay_outbox(database, stuck))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    deliver = Collector()
    assert await asyncio.wait_for(relay_outbox(database, deliver), 10) == 2
    assert deliver.ids == [a1, a2]
    assert database.pool_status()["checked_out"] == 0


@relays
@pytest.mark.postgres
async def test_a_topic_held_by_one_relay_is_skipped_by_another(database):
    a1, b1, a2 = await _publish(database, ("a", 1), ("b", 1), ("a", 2))
    entered, release = asyncio.Event(), asyncio.Event()
    first: list[int] = []

    async def slow(message: OutboxMessage) -> None:
        first.append(message.id)
        entered.set()
        await release.wait()

    holder = asyncio.create_task(relay_outbox(database, slow))
    await entered.wait()  # the first relay is inside delivering a1, holding topic "a"
    locks = await database.fetch_all(
        "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted"
    )
    assert len(locks) == 1
    other = Collector()
    assert await relay_outbox(database, other) == 1
    assert other.ids == [b1]
    release.set()
    assert await holder == 2
    assert first == [a1, a2]
    assert not await database.fetch_all("SELECT 1 FROM pg_locks WHERE locktype = 'advisory'")


@relays
@pytest.mark.postgres
async def test_a_lost_connection_is_unavailable_and_the_message_is_delivered_again(database):
    a1, a2 = await _publish(database, ("a", 1), ("a", 2))
    handed: list[int] = []

    async def deliver(message: OutboxMessage) -> None:
        handed.append(message.id)
        await database.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        )

    with pytest.raises(DatabaseUnavailableError):
        await relay_outbox(database, deliver)
    assert handed == [a1]
    deliver_again = Collector()
    assert await relay_outbox(database, deliver_again) == 2
    assert deliver_again.ids == [a1, a2]


@relays
@pytest.mark.postgres
async def test_messages_published_while_a_relay_runs_wait_for_the_next_relay(database):
    (first,) = await _publish(database, ("a", 0))
    deliver = Collector()

    async def publish_more(message: OutboxMessage) -> None:
        await deliver(message)
        # a consumer that publishes in the same topic: the relay still ends
        await _publish(database, ("a", message.payload + 1))

    assert await relay_outbox(database, publish_more) == 1
    assert deliver.ids == [first]
    assert await relay_outbox(database, deliver) == 1
    assert len(deliver.ids) == 2


@relays
@pytest.mark.postgres
async def test_overlapping_commits_can_deliver_a_lower_id_after_a_higher_one(database):
    # the documented limit of the order guarantee: ids are taken at INSERT, not at COMMIT
    early = UnitOfWork(database)
    async with early:
        low = (await early.publish("a", "early")).id
        (high,) = await _publish(database, ("a", "late"))
        deliver = Collector()
        assert await relay_outbox(database, deliver) == 1
    assert await relay_outbox(database, deliver) == 1
    assert deliver.ids == [high, low] and low < high


async def test_the_outbox_table_has_the_pending_index(database):
    async with database.engine.connect() as conn:
        indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("orm_outbox"))
    pending = next(i for i in indexes if i["name"] == "ix_orm_outbox_pending")
    assert pending["column_names"] == ["topic", "id"]
    async with database.session() as session:
        assert (await session.execute(select(OutboxMessage))).all() == []
