"""Property-based API test: generated requests from the shop's OpenAPI schema never get a 5xx.

Runs on SQLite in a temporary directory, in the default mode and with the `X-Tenant`
header (whose generated values are valid tenants); bounded to a few dozen cases per operation.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from examples.shop.application import create_app

MAX_EXAMPLES = int(os.environ.get("SHOP_SCHEMA_EXAMPLES", "25"))


@pytest.fixture(scope="module", params=[False, True], ids=["one-tenant", "x-tenant-header"])
def shop_schema(request):
    directory = Path(tempfile.mkdtemp(prefix="shop-schema-"))
    url = f"sqlite+aiosqlite:///{directory / 'shop.db'}"
    app = create_app({"url": url}, seed=True, tenant_header=request.param)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    from schemathesis.python import asgi

    asgi.shutdown_lifespans()


def test_no_generated_request_gets_a_server_error(shop_schema):
    operations = [result.ok() for result in shop_schema.get_all_operations()]
    assert len(operations) >= 12
    calls: Counter[str] = Counter()
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case):
            response = case.call()
            calls[f"{case.method} {case.path}"] += 1
            case.validate_response(response, checks=[not_a_server_error])

        check()
    # every operation was really exercised, not skipped as unsatisfiable
    assert len(calls) == len(operations), calls
    # only the parameterless health routes run once
    assert min(n for name, n in calls.items() if " /health/" not in name) >= 5, calls
