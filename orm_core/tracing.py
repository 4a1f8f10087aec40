"""OpenTelemetry spans for a database's statements, through the SQLAlchemy instrumentation.

`instrument(db)` hands the database's engine to `opentelemetry-instrumentation-sqlalchemy`
(its per-engine tracer), so every statement becomes a client span carrying the SQL text
with its placeholders, never the parameter values. The engines `Database.engine_for`
derives (isolation levels, read-only units, tenant schemas) share the engine's listeners,
so they are traced too. Unlike `SQLAlchemyInstrumentor().instrument()`, nothing
process-wide is patched: other engines and databases are left alone, and each database
may report to a tracer provider of its own.

The packages come with the `otel` extra: `pip install "orm-kit[otel]"`.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orm_core.database import Database

OTEL_EXTRA_HINT = (
    'OpenTelemetry tracing needs the otel extra: pip install "orm-kit[otel]" '
    "(opentelemetry-api and opentelemetry-instrumentation-sqlalchemy)"
)

_traced: weakref.WeakSet[Any] = weakref.WeakSet()


def instrument(
    database: Database, *, tracer_provider: Any = None, meter_provider: Any = None
) -> bool:
    """Report a span for every statement `database` runs; return False if it already does.

    `tracer_provider` and `meter_provider` default to the global ones set with
    `opentelemetry.trace.set_tracer_provider` and `opentelemetry.metrics.set_meter_provider`.

    Raises:
        ImportError: the `otel` extra is not installed (the message says how to install it).
    """
    try:
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
        from opentelemetry.instrumentation.sqlalchemy.version import __version__
        from opentelemetry.metrics import get_meter
        from opentelemetry.trace import get_tracer
    except ImportError as exc:
        raise ImportError(OTEL_EXTRA_HINT) from exc

    engine = database.engine.sync_engine
    if engine in _traced:
        return False
    # the instrumentation's own scope name, so spans look as they do under auto-instrumentation
    scope = "opentelemetry.instrumentation.sqlalchemy"
    tracer = get_tracer(scope, __version__, tracer_provider)
    connections = get_meter(scope, __version__, meter_provider).create_up_down_counter(
        name="db.client.connections.usage",
        unit="connections",
        description="Connections currently in the state the state attribute names.",
    )
    engine_tracer: Any = EngineTracer  # the library ships no annotations for it
    engine_tracer(tracer, engine, connections)
    _traced.add(engine)
    return True
