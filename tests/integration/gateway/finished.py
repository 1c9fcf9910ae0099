"""Jobs marked SUCCEEDED in the log with outputs written beside them, as the merger would leave
them: what the tests of the routes that read finished jobs' results start from."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tessera.bus import Bus
from tessera.events import JobStarted, JobSucceeded, WorkflowSubmitted
from tessera.tiling.work import JobRef
from tessera.workflows import WorkflowSpec, validate_workflow
from tests.integration.gateway.conftest import headers
from tests.polling import eventually


@dataclass
class Finished:
    gw: httpx.AsyncClient
    tenant: uuid.UUID
    base: str  # /v1/workflows/{id}/jobs


async def finish_jobs(
    gateway: httpx.AsyncClient,
    bus: Bus,
    results_root: Path,
    jobs: list[dict[str, Any]],
    writers: dict[str, Callable[[Path], None] | None],
) -> Finished:
    """Submit `jobs` for a new tenant, then finish those named in `writers` (in order): each
    one's results folder written by its writer, then JobStarted and JobSucceeded appended."""
    tenant, wid = uuid.uuid4(), uuid.uuid4()
    spec = validate_workflow(WorkflowSpec.model_validate({"jobs": jobs}))
    await bus.append(WorkflowSubmitted(tenant_id=tenant, workflow_id=wid, spec=spec))
    for job_id, write in writers.items():
        ids = {"tenant_id": tenant, "workflow_id": wid, "job_id": job_id}
        folder = JobRef(**ids, attempt=1).results_dir(results_root)
        folder.mkdir(parents=True)
        if write is not None:
            await asyncio.to_thread(write, folder)
        await bus.append(JobStarted(**ids, attempt=1))
        await bus.append(JobSucceeded(**ids, attempt=1, summary={}))
    base = f"/v1/workflows/{wid}/jobs"
    last = list(writers)[-1]
    await eventually(
        lambda: gateway.get(f"{base}/{last}", headers=headers(tenant)),
        lambda job: job.status_code == 200 and job.json()["state"] == "SUCCEEDED",
        what=f"job {last} SUCCEEDED",
        show=lambda job: job.text,
    )
    return Finished(gateway, tenant, base)
