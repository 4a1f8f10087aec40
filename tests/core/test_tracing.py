"""OpenTelemetry: `instrument(db)` reports a span per statement, without parameter values."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from orm_core import Database, DuplicateError, UnitOfWork, instrument
from orm_repositories import AsyncRepository
from tests.models import Product

SECRET = "SECRET-SKU-5521"
STATEMENT_KEYS = ("db.statement", "db.query.text")  # old and stable semantic conventions


@pytest.fixture
def exporter() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    yield provider, spans
    provider.shutdown()


def statements(spans: InMemorySpanExporter) -> list[str]:
    found = []
    for span in spans.get_finished_spans():
        attributes = span.attributes or {}
        found += [str(attributes[key]) for key in STATEMENT_KEYS if key in attributes]
    return found


async def test_a_repository_call_produces_a_span_with_the_sql_and_no_values(database, exporter):
    provider, spans = exporter
    db = Database(database.url)
    try:
        assert instrument(db, tracer_provider=provider) is True
        async with UnitOfWork(db) as uow:
            created = await uow.repository(AsyncRepository[Product]).create(
                sku=SECRET, name=SECRET, price=3
            )
        async with UnitOfWork(db, read_only=True) as uow:  # a variant engine of engine_for
            assert await uow.repository(AsyncRepository[Product]).get(created.id) is not None
    finally:
        await db.dispose()
    sql = statements(spans)
    assert any(s.startswith("INSERT INTO products") for s in sql), sql
    assert any(s.startswith("SELECT") and "FROM products" in s for s in sql), sql
    finished = spans.get_finished_spans()
    assert all(span.kind is SpanKind.CLIENT for span in finished)
    assert SECRET not in repr([(span.name, dict(span.attributes or {})) for span in finished])


async def test_a_failed_statement_ends_its_span_with_an_error(database, exporter):
    provider, spans = exporter
    db = Database(database.url)
    try:
        instrument(db, tracer_provider=provider)
        async with UnitOfWork(db) as uow:
            await uow.repository(AsyncRepository[Product]).create(sku=SECRET, name="a", price=1)
        with pytest.raises(DuplicateError):
            async with UnitOfWork(db) as uow:
                await uow.repository(AsyncRepository[Product]).create(sku=SECRET, name="b", price=1)
    finally:
        await db.dispose()
    failed = [span for span in spans.get_finished_spans() if not span.status.is_ok]
    assert failed and all(span.end_time is not None for span in failed)
    assert SECRET not in repr([span.status.description for span in failed])


async def test_instrumenting_twice_adds_no_second_span_and_other_databases_stay_untraced(
    database, exporter
):
    provider, spans = exporter
    traced, plain = Database(database.url), Database(database.url)
    try:
        assert instrument(traced, tracer_provider=provider) is True
        assert instrument(traced, tracer_provider=provider) is False
        await plain.fetch_all("SELECT 1 AS untraced")
        assert statements(spans) == []
        await traced.fetch_all("SELECT 2 AS traced")
    finally:
        await traced.dispose()
        await plain.dispose()
    assert statements(spans).count("SELECT 2 AS traced") == 1

