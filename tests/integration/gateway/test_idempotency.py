"""Idempotency-Key on POST /v1/workflows, on real NATS and PostgreSQL: retries make one workflow
and one WorkflowSubmitted, another body is a conflict, keys are per tenant and expire."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from tessera.bus import Bus, read_events
from tessera.gateway.idempotency import now
from tessera.readmodel.schema import drop_read_models, migrate
from tests.integration.gateway.conftest import CMU, SMALL, SYNTHETIC, headers

pytestmark = pytest.mark.integration

UNLIMITED = {"rate_limit_enabled": False}
OTHER = {"jobs": [{"id": "b", "type": "synthetic", "params": {"tiles": 2}}]}


async def submissions(bus: Bus, tenant: uuid.UUID) -> list[uuid.UUID]:
    """The workflow ids of the tenant's WorkflowSubmitted events in the log."""
    subject = f"{bus.names.ns}.evt.{tenant}.*.WorkflowSubmitted"
    return [env.event.workflow_id async for env in read_events(bus, subject=subject)]  # type: ignore[union-attr]


async def past_the_duplicate_window(bus: Bus) -> None:
    """Shrink the log's duplicate window and let it pass: only the table and the log remember."""
    config = (await bus.js.stream_info(bus.names.events_stream)).config
    config.duplicate_window = 0.2
    await bus.js.update_stream(config)
    await asyncio.sleep(0.4)


def keyed(tenant: uuid.UUID, key: str) -> dict[str, str]:
    return {**headers(tenant), "Idempotency-Key": key}


async def test_fifty_concurrent_retries_make_one_workflow(make_gateway, bus: Bus) -> None:
    tenant = uuid.uuid4()
    async with make_gateway(**UNLIMITED) as gw:
        answers = await asyncio.gather(
            *(
                gw.post("/v1/workflows", json=SYNTHETIC, headers=keyed(tenant, "k-1"))
                for _ in range(50)
            )
        )
    assert sorted(a.status_code for a in answers) == [200] * 49 + [202]
    assert len({a.json()["workflow_id"] for a in answers}) == 1
    assert len({a.json()["event_seq"] for a in answers}) == 1
    assert {a.headers["X-Tessera-Seq"] for a in answers} == {str(answers[0].json()["event_seq"])}
    assert await submissions(bus, tenant) == [uuid.UUID(answers[0].json()["workflow_id"])]


async def test_a_key_reused_for_another_body_is_a_conflict_and_keys_are_per_tenant(
    make_gateway, bus: Bus
) -> None:
    tenant, other = uuid.uuid4(), uuid.uuid4()
    async with make_gateway(**UNLIMITED) as gw:
        first = await gw.post("/v1/workflows", json=SYNTHETIC, headers=keyed(tenant, "nightly"))
        clash = await gw.post("/v1/workflows", json=OTHER, headers=keyed(tenant, "nightly"))
        theirs = await gw.post("/v1/workflows", json=SYNTHETIC, headers=keyed(other, "nightly"))
        # equal bodies in another spelling (key order, defaults written out) are the same request
        same = {"jobs": [{"params": {"tiles": 4}, "type": "synthetic", "id": "a", "retries": 0}]}
        spelled = await gw.post(
            "/v1/workflows", json={**same, "name": "load"}, headers=keyed(tenant, "nightly")
        )
        unkeyed = await gw.post("/v1/workflows", json=SYNTHETIC, headers=headers(tenant))
    assert first.status_code == 202 and theirs.status_code == 202 and unkeyed.status_code == 202
    assert clash.status_code == 409, clash.text
    assert "'nightly' was used for another request body" in clash.json()["error"]["message"]
    assert spelled.status_code == 200 and spelled.json() == first.json()
    assert theirs.json()["workflow_id"] != first.json()["workflow_id"]
    mine = await submissions(bus, tenant)
    assert mine[0] == uuid.UUID(first.json()["workflow_id"]) and len(mine) == 2  # + unkeyed


async def test_a_key_answers_for_its_retention_then_expires(
    make_gateway, bus: Bus, pool: asyncpg.Pool
) -> None:
    tenant = uuid.uuid4()
    clock = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    async with make_gateway(**UNLIMITED) as gw:
        gw.app.dependency_overrides[now] = lambda: clock
        first = await gw.post("/v1/workflows", json=SYNTHETIC, headers=keyed(tenant, "k"))

        clock += timedelta(hours=23, minutes=59)
        # the sequence is recorded, and survives a replay of the read models
        async with pool.acquire() as conn:
            await drop_read_models(conn)
            await migrate(conn)
            # a first try that appended but died before recording its sequence, retried
            # after JetStream's duplicate window: the log itself says it was submitted
            await past_the_duplicate_window(bus)
            await conn.execute(
                "UPDATE idempotency_keys SET seq = NULL WHERE tenant_id = $1", tenant
            )
        late = await gw.post("/v1/workflows", json=SYNTHETIC, headers=keyed(tenant, "k"))

        clock += timedelta(minutes=2)  # past 24 h: the key is free again
        renewed = await gw.post("/v1/workflows", json=OTHER, headers=keyed(tenant, "k"))
        again = await gw.post("/v1/workflows", json=OTHER, headers=keyed(tenant, "k"))
    assert (first.status_code, late.status_code) == (202, 200)
    assert late.json() == first.json()
    assert (renewed.status_code, again.status_code) == (202, 200)
    assert renewed.json()["workflow_id"] != first.json()["workflow_id"]
    assert await submissions(bus, tenant) == [
        uuid.UUID(first.json()["workflow_id"]),
        uuid.UUID(renewed.json()["workflow_id"]),
    ]


async def test_a_malformed_key_is_refused_with_nothing_appended(make_gateway, bus: Bus) -> None:
    tenant = uuid.uuid4()
    async with make_gateway(**UNLIMITED) as gw:
        long = await gw.post("/v1/workflows", json=SYNTHETIC, headers=keyed(tenant, "k" * 201))
    assert long.status_code == 422 and "Idempotency-Key" in long.text
    assert await submissions(bus, tenant) == []


async def test_a_keyed_upload_retried_answers_the_stored_slide(
    make_gateway, bus: Bus, slide_root: Path
) -> None:
    tenant = uuid.uuid4()
    body, other = (slide_root / SMALL).read_bytes(), (slide_root / CMU).read_bytes()
    folder = slide_root / "uploads" / str(tenant)

    async def put(name: str, data: bytes, key: str) -> httpx.Response:
        return await gw.post(
            "/v1/slides",
            params={"name": name},
            content=data,
            headers={**keyed(tenant, key), "content-type": "application/octet-stream"},
        )

    async with make_gateway(data_root=slide_root, **UNLIMITED) as gw:
        first = await put("a.svs", body, "up-1")
        retried = await put("a.svs", body, "up-1")
        other_file = await put("a.svs", other, "up-1")
        other_name = await put("b.svs", body, "up-1")
        corrupt = await put("c.svs", b"II*\x00" + bytes(64), "up-2")
        fixed = await put("c.svs", body, "up-2")  # a refused upload keeps nothing, its key neither
        unkeyed = await gw.post(
            "/v1/slides",
            params={"name": "a.svs"},
            content=body,
            headers={**headers(tenant), "content-type": "application/octet-stream"},
        )
    assert (first.status_code, retried.status_code) == (201, 200), retried.text
    assert retried.json() == first.json()
    assert retried.headers["X-Tessera-Seq"] == str(first.json()["seq"])
    assert other_file.status_code == other_name.status_code == 409
    assert "'up-1' was used for another request" in other_file.json()["error"]["message"]
    assert (corrupt.status_code, fixed.status_code) == (422, 201)
    assert unkeyed.status_code == 409  # without a key, a taken name is a conflict as before
    assert sorted(p.name for p in folder.iterdir()) == ["a.svs", "c.svs"]  # no temporary file
    assert (folder / "a.svs").read_bytes() == body
