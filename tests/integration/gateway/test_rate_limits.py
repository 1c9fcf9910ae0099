"""Rate limits through the API: 429 with its headers, stricter submissions, tenants apart, and
what happens when Redis is gone."""

from __future__ import annotations

import uuid

import pytest

from tessera.bus import Bus
from tessera.embedded import free_port
from tests.integration.gateway.conftest import SYNTHETIC, headers

pytestmark = pytest.mark.integration

SLOW = {"api_rate_per_s": 0.5, "api_burst": 5, "submit_rate_per_s": 0.1, "submit_burst": 2}


async def test_after_the_burst_the_api_answers_429_with_retry_after_and_ratelimit_headers(
    make_gateway,
) -> None:
    tenant = uuid.uuid4()
    async with make_gateway(**SLOW) as gw:
        answers = [await gw.get("/v1/workflows", headers=headers(tenant)) for _ in range(6)]
    assert [r.status_code for r in answers] == [200] * 5 + [429]
    assert [r.headers["RateLimit-Remaining"] for r in answers] == ["4", "3", "2", "1", "0", "0"]
    assert all(r.headers["RateLimit-Limit"] == "5" for r in answers)
    refused = answers[-1]
    # 1 / 0.5 per second, less what the six requests took on a busy machine (CI once saw 1)
    retry = int(refused.headers["Retry-After"])
    assert 1 <= retry <= 2
    assert 8 <= int(refused.headers["RateLimit-Reset"]) <= 10
    body = refused.json()["error"]
    assert body["status"] == 429
    assert body["bucket"] == "api"
    assert f"retry after {retry} s" in body["message"]


async def test_submissions_have_a_stricter_bucket_and_a_refused_one_appends_nothing(
    make_gateway, bus: Bus
) -> None:
    tenant = uuid.uuid4()
    async with make_gateway(**SLOW) as gw:
        first = await gw.post("/v1/workflows", json=SYNTHETIC, headers=headers(tenant))
        second = await gw.post("/v1/workflows", json=SYNTHETIC, headers=headers(tenant))
        before = await bus.last_sequence()
        third = await gw.post("/v1/workflows", json=SYNTHETIC, headers=headers(tenant))
        assert await bus.last_sequence() == before
        # reads still have room: the refused submission spent nothing from `api`
        reads = [await gw.get("/v1/workflows", headers=headers(tenant)) for _ in range(3)]
    assert (first.status_code, second.status_code, third.status_code) == (202, 202, 429)
    assert third.json()["error"]["bucket"] == "submissions"
    # the submissions bucket's refill (10 s), less what the two submissions took on a busy machine
    assert 8 <= int(third.headers["Retry-After"]) <= 10
    assert [r.status_code for r in reads] == [200, 200, 200]
    assert reads[-1].headers["RateLimit-Remaining"] == "0"


async def test_tenants_have_their_own_buckets(make_gateway) -> None:
    hog, other = uuid.uuid4(), uuid.uuid4()
    async with make_gateway(**SLOW) as gw:
        for _ in range(8):
            await gw.get("/v1/workflows", headers=headers(hog))
        assert (await gw.get("/v1/workflows", headers=headers(hog))).status_code == 429
        answer = await gw.get("/v1/workflows", headers=headers(other))
        # the same tenant written in upper case is the same bucket
        shouted = await gw.get("/v1/workflows", headers=headers(str(hog).upper()))
    assert answer.status_code == 200
    assert answer.headers["RateLimit-Remaining"] == "4"
    assert shouted.status_code == 429


async def test_ops_endpoints_and_requests_without_a_tenant_are_not_bucketed(make_gateway) -> None:
    async with make_gateway(**SLOW) as gw:
        for _ in range(8):
            assert (await gw.get("/healthz")).status_code == 200
        missing = [await gw.get("/v1/workflows") for _ in range(8)]
    assert {r.status_code for r in missing} == {401}
    assert all("RateLimit-Remaining" not in r.headers for r in missing)


async def test_buckets_are_shared_by_gateway_replicas_through_redis(make_gateway) -> None:
    tenant = uuid.uuid4()
    async with make_gateway(**SLOW) as one, make_gateway(**SLOW) as two:
        statuses = [
            (await gw.get("/v1/workflows", headers=headers(tenant))).status_code
            for gw in (one, two, one, two, one, two)
        ]
        assert one.app.state.limit_store.degraded is False
    assert statuses == [200] * 5 + [429]


async def test_with_redis_down_limits_are_kept_per_process_and_nothing_fails(
    make_gateway, bus: Bus
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    tenant, other = uuid.uuid4(), uuid.uuid4()
    async with make_gateway(redis_url=dead, **SLOW) as gw:
        reads = [await gw.get("/v1/workflows", headers=headers(tenant)) for _ in range(7)]
        submits = [
            await gw.post("/v1/workflows", json=SYNTHETIC, headers=headers(other)) for _ in range(3)
        ]
        ready = await gw.get("/readyz")
    assert [r.status_code for r in reads] == [200] * 5 + [429, 429]
    assert reads[-1].headers["Retry-After"] == "2"
    assert [r.status_code for r in submits] == [202, 202, 429]
    assert ready.status_code == 200
    assert ready.json()["rate_limits"] == "local"
    assert ready.json()["checks"]["redis"] is False
