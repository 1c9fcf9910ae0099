"""Schemathesis against the gateway's own OpenAPI document, on a real uvicorn with real servers.

Every operation is called with generated (valid and invalid) input and a valid tenant; the
answers must be documented (status, content type, headers, body schema) and never a server
error other than a deliberate 503.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tessera.gateway.app import create_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]

schema = schemathesis.openapi.from_dict(create_app().openapi())
TENANT = str(uuid.uuid4())


def no_server_error_but_503(ctx: object, response: schemathesis.Response, case: object) -> None:
    if response.status_code >= 500 and response.status_code != 503:
        raise AssertionError(f"server error {response.status_code}: {response.text[:500]}")


CHECKS = [
    no_server_error_but_503,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def base_url(live_gateway, slide_root: Path) -> Iterator[str]:
    # generous limits: the point here is the contract, not the buckets; a data root of its own,
    # since uploads write into it
    with live_gateway(api_burst=100_000, submit_burst=100_000, data_root=slide_root) as url:
        yield url


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: schemathesis.Case, base_url: str) -> None:
    case.call_and_validate(base_url=base_url, headers={"X-User-ID": TENANT}, checks=CHECKS)
