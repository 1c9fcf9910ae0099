"""POST /v1/workflows/{wid}/jobs/{job}/rerun through the branch-sequencer, over real NATS and
PostgreSQL: refusals, the consistency token, another tenant, and a failed workflow run again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import httpx
import pytest

from tessera.bus import Bus
from tessera.events import JobAttemptFailed, JobSucceeded
from tests.integration.gateway.conftest import headers
from tests.polling import eventually

pytestmark = pytest.mark.integration

TOKEN = "X-Tessera-Seq"
SPEC = {
    "name": "rerun me",
    "jobs": [
        {"id": "a", "type": "synthetic", "branch": "x"},
        {"id": "b", "type": "synthetic", "branch": "x"},
        {"id": "c", "type": "synthetic", "branch": "y", "depends_on": ["b"]},
    ],
}


async def until(
    gw: httpx.AsyncClient, tenant: uuid.UUID, wid: str, ok: Callable[[dict], bool]
) -> dict:
    async def read() -> httpx.Response:
        return await gw.get(f"/v1/workflows/{wid}", headers=headers(tenant))

    answer = await eventually(
        read,
        lambda r: r.status_code == 200 and ok(r.json()),
        what=f"workflow {wid}",
        show=lambda r: r.text,
    )
    return dict(answer.json())


def states(workflow: dict) -> dict[str, tuple[str, int]]:
    return {j["id"]: (j["state"], j["attempt"]) for j in workflow["jobs"]}


async def test_a_failed_job_is_rerun_with_what_it_skipped_and_the_workflow_runs_again(
    make_gateway, projector, scheduler, bus: Bus
) -> None:
    tenant, other = uuid.uuid4(), uuid.uuid4()
    async with make_gateway() as gw:
        wid = (await gw.post("/v1/workflows", json=SPEC, headers=headers(tenant))).json()[
            "workflow_id"
        ]
        ids = {"tenant_id": tenant, "workflow_id": uuid.UUID(wid)}
        await until(gw, tenant, wid, lambda w: states(w)["a"] == ("RUNNING", 1))

        def rerun(job: str, who: uuid.UUID = tenant) -> asyncio.Future[httpx.Response]:
            url = f"/v1/workflows/{wid}/jobs/{job}/rerun"
            return asyncio.ensure_future(gw.post(url, headers=headers(who)))

        for job, state in (("a", "RUNNING"), ("b", "PENDING")):
            refused = await rerun(job)
            assert refused.status_code == 409, refused.text
            assert refused.json()["error"]["state"] == state

        await bus.append(JobAttemptFailed(**ids, job_id="a", reason="boom", retryable=False))
        failed = await until(gw, tenant, wid, lambda w: w["state"] == "FAILED")
        assert states(failed) == {"a": ("FAILED", 1), "b": ("SKIPPED", 0), "c": ("SKIPPED", 0)}
        for who, job in ((other, "a"), (tenant, "ghost")):
            assert (await rerun(job, who)).status_code == 404

        accepted = await rerun("a")
        assert accepted.status_code == 200, accepted.text
        body = accepted.json()
        assert body["rerun"] == ["a", "b", "c"]
        assert int(accepted.headers[TOKEN]) == body["seq"]
        seen = await gw.get(
            f"/v1/workflows/{wid}", headers={**headers(tenant), TOKEN: str(body["seq"])}
        )
        assert seen.json()["state"] in ("QUEUED", "RUNNING")  # open again, at once
        assert {j["id"]: j["state"] for j in seen.json()["jobs"]}["c"] == "PENDING"

        await until(gw, tenant, wid, lambda w: states(w)["a"] == ("RUNNING", 2))
        await bus.append(JobSucceeded(**ids, job_id="a", attempt=2))
        await until(gw, tenant, wid, lambda w: states(w)["b"] == ("RUNNING", 1))
        await bus.append(JobSucceeded(**ids, job_id="b", attempt=1))
        await until(gw, tenant, wid, lambda w: states(w)["c"] == ("RUNNING", 1))
        await bus.append(JobSucceeded(**ids, job_id="c", attempt=1))
        done = await until(gw, tenant, wid, lambda w: w["state"] == "SUCCEEDED")
        assert done["finished_at"] is not None and done["jobs_finished"] == 3
        again = await rerun("a")
        assert again.status_code == 409 and again.json()["error"]["state"] == "SUCCEEDED"
        job = (await gw.get(f"/v1/workflows/{wid}/jobs/a", headers=headers(tenant))).json()
        assert [(a["attempt"], a["outcome"]) for a in job["attempts"]] == [
            (1, "FAILED"),
            (2, "SUCCEEDED"),
        ]
        assert "JobRerun" in [h["event_type"] for h in job["history"]]
