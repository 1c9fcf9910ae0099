"""Input hardening and load shedding: body limits, strict schemas, JSON errors everywhere, 503."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import structlog.testing

from tessera.bus import Bus
from tessera.workflows import MAX_JOBS_PER_WORKFLOW as MAX_JOBS
from tests.integration.gateway.conftest import SYNTHETIC, headers

pytestmark = pytest.mark.integration


def assert_error(response: httpx.Response, status: int, needle: str = "") -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["status"] == status
    assert needle in error["message"]
    return error


async def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(
    make_gateway, bus: Bus
) -> None:
    before = await bus.last_sequence()
    async with make_gateway(max_body_bytes=2048) as gw:
        big = {"jobs": [{"id": f"j{i}", "type": "synthetic"} for i in range(200)]}
        answer = await gw.post("/v1/workflows", json=big, headers=headers(uuid.uuid4()))
        small = await gw.post("/v1/workflows", json=SYNTHETIC, headers=headers(uuid.uuid4()))
    error = assert_error(answer, 413, "at most 2048 bytes")
    assert error["limit"] == 2048
    assert small.status_code == 202
    assert await bus.last_sequence() == before + 1


async def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(make_gateway, bus: Bus) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(100):
            sent += 1
            yield b" " * 1000

    before = await bus.last_sequence()
    async with make_gateway(max_body_bytes=4096) as gw:
        answer = await gw.post(
            "/v1/workflows",
            content=chunks(),
            headers={**headers(uuid.uuid4()), "content-type": "application/json"},
        )
    assert_error(answer, 413, "at most 4096 bytes")
    assert sent <= 6  # refused as soon as it passed the limit, not after 100 kB
    assert await bus.last_sequence() == before


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({**SYNTHETIC, "priority": "high"}, "priority"),
        ({"jobs": [{"id": "a", "type": "synthetic", "retries": 6}]}, "retries"),
        ({"jobs": [{"id": "a b", "type": "synthetic"}]}, "jobs.0.id"),
        ({"jobs": [{"id": "a", "type": "synthetic", "params": {"tiles": 10**9}}]}, "params.tiles"),
        ({"jobs": [{"id": "a", "type": "synthetic", "params": {"shell": "rm"}}]}, "params.shell"),
        (
            {"jobs": [{"id": f"j{i}", "type": "synthetic"} for i in range(MAX_JOBS + 1)]},
            "jobs",
        ),
        ({"jobs": []}, "jobs"),
        ({"name": "n" * 201, "jobs": SYNTHETIC["jobs"]}, "name"),
    ],
    ids=[
        "extra-field",
        "retries",
        "bad-id",
        "huge-param",
        "unknown-param",
        "too-many-jobs",
        "no-jobs",
        "long-name",
    ],
)
async def test_strict_schemas_refuse_what_they_do_not_know(
    make_gateway, bus: Bus, body: dict, needle: str
) -> None:
    before = await bus.last_sequence()
    async with make_gateway(submit_burst=100) as gw:
        answer = await gw.post("/v1/workflows", json=body, headers=headers(uuid.uuid4()))
    error = assert_error(answer, 422, needle)
    assert error["problems"]
    assert await bus.last_sequence() == before


async def test_malformed_json_and_deep_nesting_are_client_errors(make_gateway) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    async with make_gateway(max_body_bytes=1_000_000) as gw:
        bad = await gw.post(
            "/v1/workflows",
            content=b'{"jobs": [',
            headers={**headers(uuid.uuid4()), "content-type": "application/json"},
        )
        nested = await gw.post(
            "/v1/workflows",
            content=deep.encode(),
            headers={**headers(uuid.uuid4()), "content-type": "application/json"},
        )
    assert_error(bad, 422, "JSON")
    assert 400 <= nested.status_code < 500
    assert nested.json()["error"]["status"] == nested.status_code


async def test_router_errors_are_json(make_gateway) -> None:
    tenant = headers(uuid.uuid4())
    async with make_gateway() as gw:
        missing = await gw.get("/v1/nothing-here", headers=tenant)
        wrong_method = await gw.delete("/v1/workflows", headers=tenant)
        bad_id = await gw.get("/v1/workflows/not-a-uuid", headers=tenant)
        bad_query = await gw.get("/v1/workflows?limit=0", headers=tenant)
    assert_error(missing, 404, "no such route")
    assert_error(wrong_method, 405, "method not allowed")
    # every method of the path, not only the first route's (listing is GET, submitting POST)
    assert {"GET", "POST"} <= set(wrong_method.headers["allow"].split(", "))
    assert "GET" in wrong_method.json()["error"]["message"]
    assert_error(bad_id, 422, "workflow_id")
    assert_error(bad_query, 422, "limit")


async def test_an_unexpected_failure_is_a_logged_json_500(make_gateway) -> None:
    async with make_gateway() as gw:
        app = gw.app

        @app.get("/v1/explode")
        async def explode() -> None:
            raise RuntimeError("boom")

        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://gw",
        )
        async with client:
            with structlog.testing.capture_logs() as logs:
                answer = await client.get("/v1/explode", headers=headers(uuid.uuid4()))
    error = assert_error(answer, 500, "internal error")
    assert "boom" not in json.dumps(error)  # no internals leak
    logged = [e for e in logs if e["event"] == "unhandled_error"]
    assert logged and logged[0]["path"] == "/v1/explode"
    assert "boom" in repr(logged[0]["exc_info"])


async def test_past_the_in_flight_cap_requests_get_503_at_once(make_gateway, bus: Bus) -> None:
    release = asyncio.Event()

    async def held_body() -> AsyncIterator[bytes]:
        await release.wait()  # the request stays in flight until the test lets it finish
        yield json.dumps(SYNTHETIC).encode()

    async with make_gateway(max_in_flight=2, submit_burst=10) as gw:
        post = {"headers": {**headers(uuid.uuid4()), "content-type": "application/json"}}
        held = [
            asyncio.create_task(gw.post("/v1/workflows", content=held_body(), **post))
            for _ in range(2)
        ]
        await asyncio.sleep(0.2)
        shed = await gw.get("/v1/workflows", headers=headers(uuid.uuid4()))
        probe = await gw.get("/healthz")  # ops endpoints stay reachable
        release.set()
        finished = await asyncio.gather(*held)
        after = await gw.get("/v1/workflows", headers=headers(uuid.uuid4()))
    error = assert_error(shed, 503, "at capacity")
    assert shed.headers["Retry-After"] == "1"
    assert "retry after 1 s" in error["message"]
    assert probe.status_code == 200
    assert [r.status_code for r in finished] == [202, 202]
    assert after.status_code == 200
