"""GET /v1/workflows/{wid}/jobs/{job_id} and GET /v1/admission over real read models."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tessera.bus import Bus
from tessera.events import (
    JobPlanned,
    JobProgressed,
    JobRetryScheduled,
    JobStarted,
    JobSucceeded,
    TenantActivated,
    TenantQueued,
    WorkflowAdmitted,
)
from tests.integration.gateway.conftest import headers
from tests.polling import eventually

pytestmark = pytest.mark.integration


async def read_when(
    gw: httpx.AsyncClient, url: str, tenant: uuid.UUID, ok: Callable[[dict], bool]
) -> dict:
    answer = await eventually(
        lambda: gw.get(url, headers=headers(tenant)),
        lambda answer: answer.status_code == 200 and ok(answer.json()),
        timeout=5.0,
        what=url,
        show=lambda answer: f"{answer.status_code} {answer.text}",
    )
    return dict(answer.json())


async def test_a_job_shows_its_history_attempts_progress_and_timings(
    make_gateway, projector, bus: Bus
) -> None:
    tenant = uuid.uuid4()
    spec = {
        "jobs": [
            {"id": "a", "type": "synthetic", "retries": 1, "params": {"tiles": 10}},
            {"id": "b", "type": "synthetic", "depends_on": ["a"]},
        ]
    }
    async with make_gateway() as gw:
        wid = uuid.UUID(
            (await gw.post("/v1/workflows", json=spec, headers=headers(tenant))).json()[
                "workflow_id"
            ]
        )
        ids = {"tenant_id": tenant, "workflow_id": wid, "job_id": "a"}
        for event in (
            JobStarted(**ids, attempt=1),
            JobPlanned(**ids, attempt=1, tiles_total=10, tissue_fraction=0.5),
            JobProgressed(**ids, attempt=1, tiles_done=4, tiles_total=10),
            JobRetryScheduled(**ids, attempt=1, retry_at=datetime.now(UTC), reason="worker lost"),
            JobStarted(**ids, attempt=2),
            JobProgressed(**ids, attempt=2, tiles_done=10, tiles_total=10),
            JobSucceeded(**ids, attempt=2, summary={"tiles": 10}),
        ):
            await bus.append(event)
        url = f"/v1/workflows/{wid}/jobs/a"
        job = await read_when(gw, url, tenant, lambda j: j["state"] == "SUCCEEDED")
        pending = (await gw.get(f"/v1/workflows/{wid}/jobs/b", headers=headers(tenant))).json()
        ghost = await gw.get(f"/v1/workflows/{wid}/jobs/ghost", headers=headers(tenant))
        mine = (await gw.get("/v1/admission/throughput", headers=headers(tenant))).json()
        other = await gw.get("/v1/admission/throughput", headers=headers(uuid.uuid4()))

    assert [(h["event_type"], h["state"], h["attempt"]) for h in job["history"]] == [
        ("JobStarted", "RUNNING", 1),
        ("JobRetryScheduled", "PENDING", 1),
        ("JobStarted", "RUNNING", 2),
        ("JobSucceeded", "SUCCEEDED", 2),
    ]
    stamps = [datetime.fromisoformat(h["at"]) for h in job["history"]]
    assert stamps == sorted(stamps)
    assert [(a["attempt"], a["outcome"], a["reason"]) for a in job["attempts"]] == [
        (1, "FAILED", "worker lost"),
        (2, "SUCCEEDED", None),
    ]
    assert all(a["seconds"] is not None and a["seconds"] >= 0 for a in job["attempts"])
    assert job["progress"] == {
        "tiles_done": 10,
        "tiles_total": 10,
        "tiles_ended": 0,
        "estimated": False,
        "percent": 100.0,
        "rate": None,
        "eta_s": None,
    }
    assert [(line["kind"], line["attempt"], line["text"]) for line in job["log"]] == [
        ("submitted", 0, "submitted"),
        ("started", 1, "started attempt 1"),
        ("planned", 1, "planned 10 tiles"),
        ("progress", 1, "25 % of the tiles done (4 / 10)"),
        ("retry", 1, "retry of attempt 1 scheduled"),
        ("started", 2, "started attempt 2"),
        ("progress", 2, "all 10 tiles done"),
        ("succeeded", 2, "succeeded"),
    ]
    assert 0 < len(job["throughput"]) <= 120
    # the tenant's tiles: 4 of attempt 1, then 10 of attempt 2; another tenant sees none of them
    assert mine["tiles"] == 14 and len(mine["points"]) == 120
    assert sum(p["rate"] for p in mine["points"]) * mine["step_s"] == pytest.approx(14)
    assert other.json()["tiles"] == 0
    assert job["attempt"] == 2
    assert job["tissue_fraction"] == 0.5
    assert job["summary"] == {"tiles": 10}
    timings = job["timings"]
    assert timings["total_seconds"] >= timings["running_seconds"] >= 0
    assert timings["queued_seconds"] >= 0
    assert (pending["state"], pending["history"], pending["attempts"]) == ("PENDING", [], [])
    assert pending["timings"]["running_seconds"] is None
    assert ghost.status_code == 404
    assert ghost.json()["error"]["message"] == f"job '{wid}/ghost' not found"


async def test_admission_shows_counts_my_state_and_my_live_place_in_line(
    make_gateway, projector, bus: Bus
) -> None:
    running, first, second, idle = (uuid.uuid4() for _ in range(4))
    async with make_gateway(max_active_tenants=1) as gw:
        before = (await gw.get("/v1/admission", headers=headers(idle))).json()
        assert before == {
            "max_active_tenants": 1,
            "active_tenants": 0,
            "waiting_tenants": 0,
            "state": "IDLE",
            "position": None,
            "since": None,
        }
        await bus.append(TenantActivated(tenant_id=running))
        await bus.append(TenantQueued(tenant_id=first, position=1))
        await bus.append(TenantQueued(tenant_id=second, position=2))
        mine = await read_when(gw, "/v1/admission", second, lambda a: a["state"] == "WAITING")
        assert (mine["active_tenants"], mine["waiting_tenants"], mine["position"]) == (1, 2, 2)
        assert mine["since"] is not None
        head = (await gw.get("/v1/admission", headers=headers(first))).json()
        assert (head["state"], head["position"]) == ("WAITING", 1)
        active = (await gw.get("/v1/admission", headers=headers(running))).json()
        assert (active["state"], active["position"]) == ("ACTIVE", None)
        # the head is admitted: the second tenant moves up without a new event of its own
        await bus.append(TenantActivated(tenant_id=first))
        moved = await read_when(gw, "/v1/admission", second, lambda a: a["position"] == 1)
        assert (moved["active_tenants"], moved["waiting_tenants"]) == (2, 1)
        nobody = (await gw.get("/v1/admission", headers=headers(idle))).json()
        assert (nobody["state"], nobody["waiting_tenants"]) == ("IDLE", 1)
        # an active tenant's new workflow queues behind the waiters: it is in the line, so it
        # counts among the waiting (admission's len(line)) and its place is within the count
        await bus.append(TenantQueued(tenant_id=running, position=2))
        queued = await read_when(gw, "/v1/admission", running, lambda a: a["position"] == 2)
        assert (queued["state"], queued["active_tenants"], queued["waiting_tenants"]) == (
            "ACTIVE",
            2,
            2,
        )
        for other in (idle, second):
            seen = (await gw.get("/v1/admission", headers=headers(other))).json()
            assert seen["waiting_tenants"] == 2


async def test_pending_jobs_say_what_they_wait_for(make_gateway, projector, bus: Bus) -> None:
    tenant = uuid.uuid4()
    spec = {
        "jobs": [
            {"id": "a", "type": "synthetic", "retries": 1},
            {"id": "b", "type": "synthetic"},
            {"id": "c", "type": "synthetic", "branch": "other", "depends_on": ["b"]},
        ]
    }
    async with make_gateway(max_workers=2) as gw:
        accepted = await gw.post("/v1/workflows", json=spec, headers=headers(tenant))
        wid = uuid.UUID(accepted.json()["workflow_id"])
        ids = {"tenant_id": tenant, "workflow_id": wid, "job_id": "a"}
        await bus.append(TenantActivated(tenant_id=tenant))
        await bus.append(WorkflowAdmitted(tenant_id=tenant, workflow_id=wid))
        await bus.append(JobStarted(**ids, attempt=1))
        url = f"/v1/workflows/{wid}"
        running = await read_when(gw, url, tenant, lambda w: w["jobs"][0]["state"] == "RUNNING")
        waiting = {j["id"]: j["waiting"] for j in running["jobs"]}
        assert waiting["a"] is None
        assert waiting["b"]["kind"] == "lane" and waiting["b"]["details"]["jobs"] == ["a"]
        assert waiting["c"]["words"] == "waits for its dependency 'b' to succeed (PENDING)"
        due = datetime.now(UTC) + timedelta(minutes=5)
        await bus.append(JobRetryScheduled(**ids, attempt=1, retry_at=due, reason="worker lost"))
        job = await read_when(gw, f"{url}/jobs/a", tenant, lambda j: j["state"] == "PENDING")
        assert job["waiting"]["kind"] == "retry"
        assert datetime.fromisoformat(job["waiting"]["details"]["until"]) == due
