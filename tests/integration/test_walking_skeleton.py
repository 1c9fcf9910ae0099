"""Submit → log → projector → read model, tenant isolation, validation, replay."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tessera.bus import Bus
from tessera.projector.main import replay
from tessera.readmodel import queries
from tessera.settings import Settings
from tests.polling import eventually

pytestmark = pytest.mark.integration

SLIDE = "CMU-1-Small-Region.svs"


def workflow(**overrides: object) -> dict:
    body = {
        "name": "slide 42",
        "jobs": [
            {"id": "mask", "type": "tissue_mask", "branch": "qc", "slide": SLIDE},
            {
                "id": "cells",
                "type": "cell_segmentation",
                "branch": "cells",
                "slide": SLIDE,
                "depends_on": ["mask"],
                "params": {"model": "auto", "tile_size": 512},
                "retries": 1,
            },
            {
                "id": "load",
                "type": "synthetic",
                "branch": "cells",
                "params": {"tiles": 200, "seconds_per_tile": 0.05},
            },
        ],
    }
    body.update(overrides)
    return body


async def wait_for(
    client: httpx.AsyncClient, url: str, tenant: str, timeout: float = 5.0
) -> httpx.Response:
    return await eventually(
        lambda: client.get(url, headers={"X-User-ID": tenant}),
        lambda response: response.status_code == 200,
        timeout=timeout,
        what=f"GET {url} 200",
        show=lambda response: f"{response.status_code} {response.text}",
    )


async def test_submitted_workflow_is_readable_within_a_second_by_its_tenant_only(
    gateway: httpx.AsyncClient, projector: object
) -> None:
    tenant, other = str(uuid.uuid4()), str(uuid.uuid4())
    submitted = await gateway.post("/v1/workflows", json=workflow(), headers={"X-User-ID": tenant})
    assert submitted.status_code == 202, submitted.text
    wid = submitted.json()["workflow_id"]

    loop = asyncio.get_running_loop()
    t0 = loop.time()
    got = await wait_for(gateway, f"/v1/workflows/{wid}", tenant, timeout=1.0)
    assert got.status_code == 200, got.text
    assert loop.time() - t0 < 1.0
    body = got.json()
    assert body["name"] == "slide 42"
    assert body["state"] == "QUEUED"
    assert [j["id"] for j in body["jobs"]] == ["mask", "cells", "load"]
    assert body["lanes"] == {"qc": ["mask"], "cells": ["cells", "load"]}
    assert all(j["state"] == "PENDING" for j in body["jobs"])
    assert body["jobs"][1]["params"]["halo"] == 64  # defaults are filled in at validation

    listed = await gateway.get("/v1/workflows", headers={"X-User-ID": tenant})
    assert [w["id"] for w in listed.json()["items"]] == [wid]

    hidden = await gateway.get(f"/v1/workflows/{wid}", headers={"X-User-ID": other})
    assert hidden.status_code == 404
    assert (await gateway.get("/v1/workflows", headers={"X-User-ID": other})).json()["items"] == []


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (
            workflow(
                jobs=[
                    {"id": "a", "type": "synthetic", "depends_on": ["b"]},
                    {"id": "b", "type": "synthetic", "depends_on": ["a"]},
                ]
            ),
            422,
            "cycle",
        ),
        (
            workflow(jobs=[{"id": "a", "type": "synthetic"}, {"id": "a", "type": "synthetic"}]),
            422,
            "duplicate job id 'a'",
        ),
        (
            workflow(jobs=[{"id": "a", "type": "synthetic", "depends_on": ["ghost"]}]),
            422,
            "unknown job 'ghost'",
        ),
        (workflow(jobs=[{"id": "a", "type": "teleport"}]), 422, "unknown type 'teleport'"),
        (workflow(jobs=[{"id": "a", "type": "tissue_mask", "slide": "nope.svs"}]), 422, "nope.svs"),
        (
            workflow(jobs=[{"id": "a", "type": "tissue_mask", "slide": "../data/README.md"}]),
            422,
            "../data/README.md",
        ),
        (
            workflow(jobs=[{"id": "a", "type": "synthetic", "params": {"tiles": -1}}]),
            422,
            "params.tiles",
        ),
        (workflow(jobs=[{"id": "a", "type": "synthetic", "surprise": 1}]), 422, "surprise"),
    ],
    ids=[
        "cycle",
        "duplicate",
        "unknown-dep",
        "unknown-type",
        "missing-slide",
        "escape",
        "bad-params",
        "extra-field",
    ],
)
async def test_malformed_workflows_are_refused_and_append_nothing(
    gateway: httpx.AsyncClient, bus: Bus, body: dict, status: int, needle: str
) -> None:
    before = await bus.last_sequence()
    response = await gateway.post(
        "/v1/workflows", json=body, headers={"X-User-ID": str(uuid.uuid4())}
    )
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]["message"]
    assert await bus.last_sequence() == before


@pytest.mark.parametrize(
    ("headers", "status", "needle"),
    [({}, 401, "X-User-ID header is required"), ({"X-User-ID": "bob"}, 400, "must be a UUID")],
)
async def test_tenant_header_is_required_and_validated(
    gateway: httpx.AsyncClient, bus: Bus, headers: dict, status: int, needle: str
) -> None:
    before = await bus.last_sequence()
    for response in (
        await gateway.post("/v1/workflows", json=workflow(), headers=headers),
        await gateway.get("/v1/workflows", headers=headers),
    ):
        assert response.status_code == status
        assert needle in response.json()["error"]["message"]
    assert await bus.last_sequence() == before


async def test_replay_rebuilds_identical_read_models(
    gateway: httpx.AsyncClient, projector, pool, settings: Settings
) -> None:
    tenants = [str(uuid.uuid4()) for _ in range(3)]
    ids = []
    for i, tenant in enumerate(tenants * 2):
        r = await gateway.post(
            "/v1/workflows", json=workflow(name=f"w{i}"), headers={"X-User-ID": tenant}
        )
        ids.append((tenant, r.json()["workflow_id"]))
    for tenant, wid in ids:
        assert (await wait_for(gateway, f"/v1/workflows/{wid}", tenant)).status_code == 200
    async with pool.acquire() as conn:
        live = await queries.snapshot(conn)
    await replay(settings)
    async with pool.acquire() as conn:
        rebuilt = await queries.snapshot(conn)
    assert rebuilt == live
    assert len(rebuilt["workflows"]) == 6


async def test_openapi_and_ops_endpoints(gateway: httpx.AsyncClient) -> None:
    spec = (await gateway.get("/openapi.json")).json()
    assert "/v1/workflows" in spec["paths"]
    assert (await gateway.get("/docs")).status_code == 200
    assert (await gateway.get("/healthz")).json()["status"] == "ok"
    assert (await gateway.get("/readyz")).status_code == 200
    assert "tessera_events_appended_total" in (await gateway.get("/metrics")).text
