"""A finished job's outputs are downloadable by its tenant only, from its last attempt."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tessera.bus import Bus
from tessera.events import JobStarted, JobSucceeded, WorkflowSubmitted
from tessera.gateway.settings import GatewaySettings
from tessera.tiling.work import JobRef
from tessera.workflows import WorkflowSpec, validate_workflow
from tests.polling import eventually

pytestmark = pytest.mark.integration


async def test_results_of_the_last_attempt_stream_to_the_owner_only(
    gateway: httpx.AsyncClient, bus: Bus, projector: object, settings: GatewaySettings
) -> None:
    tenant, wid = uuid.uuid4(), uuid.uuid4()
    spec = validate_workflow(
        WorkflowSpec.model_validate(
            {"jobs": [{"id": "cells", "type": "synthetic"}, {"id": "later", "type": "synthetic"}]}
        )
    )
    ids = {"tenant_id": tenant, "workflow_id": wid, "job_id": "cells"}
    for attempt in (1, 2):  # attempt 1's folder must never be served
        folder = JobRef(**ids, attempt=attempt).results_dir(settings.results_root)
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps({"cell_count": attempt}))
        (folder / "cells.geojson").write_text(json.dumps({"type": "FeatureCollection",
                                                          "attempt": attempt}))  # fmt: skip
    await bus.append(WorkflowSubmitted(tenant_id=tenant, workflow_id=wid, spec=spec))
    await bus.append(JobStarted(**ids, attempt=2))
    await bus.append(JobSucceeded(**ids, attempt=2, summary={"cell_count": 2}))
    base = f"/v1/workflows/{wid}/jobs"
    owner = {"X-User-ID": str(tenant)}
    await eventually(
        lambda: gateway.get(f"{base}/cells", headers=owner),
        lambda job: job.status_code == 200 and job.json()["state"] == "SUCCEEDED",
        what="job cells SUCCEEDED",
        show=lambda job: job.text,
    )

    summary = await gateway.get(f"{base}/cells/results/summary", headers=owner)
    assert summary.status_code == 200 and summary.json() == {"cell_count": 2}
    geojson = await gateway.get(f"{base}/cells/results/cells.geojson", headers=owner)
    assert geojson.headers["content-type"] == "application/geo+json"
    assert geojson.json()["attempt"] == 2
    missing = await gateway.get(f"{base}/cells/results/cells.parquet", headers=owner)
    assert missing.status_code == 404 and "cells.parquet" in missing.json()["error"]["message"]
    pending = await gateway.get(f"{base}/later/results/summary", headers=owner)
    assert pending.status_code == 409 and pending.json()["error"]["state"] == "PENDING"
    stranger = {"X-User-ID": str(uuid.uuid4())}
    assert (await gateway.get(f"{base}/cells/results/summary", headers=stranger)).status_code == 404
