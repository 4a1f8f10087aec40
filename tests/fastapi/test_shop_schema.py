"""Property-based API test: schemathesis over the example shop, with every check.

Requests generated from the shop's OpenAPI document, valid ones and deliberately
invalid ones, must get answers the document describes: status, content type, headers
and body schema; valid requests are refused only with the documented 404/409/412/422
(tests/fastapi/schemathesis.toml), invalid ones never accepted, and nothing is a 5xx.

PostgreSQL runs `SHOP_SCHEMA_EXAMPLES` (default 100) valid cases per operation with the
`X-Tenant` header; SQLite runs fewer in both tenancy modes.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from examples.shop.application import create_app
from examples.shop.bootstrap import create_tables
from tests.conftest import side_database

CONFIG = Path(__file__).with_name("schemathesis.toml")
POSITIVE = int(os.environ.get("SHOP_SCHEMA_EXAMPLES", "100"))
NEGATIVE = max(POSITIVE // 4, 10)
SQLITE_EXAMPLES = 25


def load(app):
    config = SchemathesisConfig.from_path(CONFIG)
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


@pytest.fixture(scope="module")
def shutdown_lifespans():
    yield
    from schemathesis.python import asgi

    asgi.shutdown_lifespans()


def run_every_operation(schema, mode: GenerationMode, examples: int) -> Counter[str]:
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 17
    if mode is GenerationMode.NEGATIVE:  # the health routes take nothing to get wrong
        operations = [op for op in operations if not op.path.startswith("/health/")]
    calls: Counter[str] = Counter()
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case):
            response = case.call()
            calls[f"{case.method} {case.path}"] += 1
            case.validate_response(response)  # every check the configuration enables

        check()
    return calls


@pytest.mark.parametrize("tenant_header", [False, True], ids=["one-tenant", "x-tenant-header"])
def test_sqlite_shop_answers_every_generated_request_as_documented(
    tenant_header, shutdown_lifespans
):
    directory = Path(tempfile.mkdtemp(prefix="shop-schema-"))
    url = f"sqlite+aiosqlite:///{directory / 'shop.db'}"
    schema = load(create_app({"url": url}, seed=True, tenant_header=tenant_header))
    calls = run_every_operation(schema, GenerationMode.POSITIVE, SQLITE_EXAMPLES)
    # every operation was really exercised, not skipped as unsatisfiable
    assert min(n for name, n in calls.items() if " /health/" not in name) >= 5, calls
    run_every_operation(schema, GenerationMode.NEGATIVE, SQLITE_EXAMPLES // 2)


def test_postgres_shop_answers_every_generated_request_as_documented(
    postgres_url, shutdown_lifespans
):
    if postgres_url is None:
        pytest.skip("PostgreSQL unreachable")
    # a database of its own: the generated rows stay out of the other shop tests' way
    with side_database(postgres_url, "shop_schema", create_tables) as url:
        schema = load(create_app({"url": url}, seed=True, tenant_header=True))
        calls = run_every_operation(schema, GenerationMode.POSITIVE, POSITIVE)
        assert min(n for name, n in calls.items() if " /health/" not in name) >= POSITIVE
        run_every_operation(schema, GenerationMode.NEGATIVE, NEGATIVE)
        from schemathesis.python import asgi

        asgi.shutdown_lifespans()  # disposes the pool before the database is dropped
