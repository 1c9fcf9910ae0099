"""Every metric the Grafana dashboard and the alert rules query has samples once a workflow ran.

The whole stack runs in this process on the real servers: the gateway, the projector, admission
and the branch-sequencer (each under its lease, as deployed), the tiler, an inference worker and
the merger. A workflow goes in through the API; meanwhile every service's `/metrics` is scraped
through its own ops endpoint (the gateway's through its API). The names come from the dashboard
JSON and the rules file, parsed as PromQL; those of the NATS exporter and Prometheus itself
(`test_deploy.FOREIGN`) are not Tessera's to export.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tessera.bus import Bus
from tessera.cli import SERVICES
from tessera.lease import lead
from tessera.ops import ops_app
from tests.conftest import running
from tests.integration.dataplane.conftest import DataPlane
from tests.unit.test_deploy import FOREIGN, queried_metrics

pytestmark = pytest.mark.integration


async def scrape(client: httpx.AsyncClient) -> set[str]:
    """Names of the samples a `/metrics` answer carries (histograms as _bucket/_sum/_count)."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        sample.name
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


@contextlib.asynccontextmanager
async def deciders(bus: Bus) -> AsyncIterator[None]:
    """Admission and the branch-sequencer as their processes run them: while holding a lease."""
    from tessera.admission.domain import AdmissionState
    from tessera.admission.handlers import Admission
    from tessera.branch_sequencer.domain import SequencerState
    from tessera.branch_sequencer.handlers import Sequencer

    async def admission(stop: asyncio.Event) -> None:
        await lead(bus, "admission", stop, Admission(bus, AdmissionState()).run, ttl_s=3.0)

    async def sequencer(stop: asyncio.Event) -> None:
        await lead(bus, "branch-sequencer", stop, Sequencer(bus, SequencerState()).run, ttl_s=3.0)

    async with running(admission), running(sequencer):
        yield


async def test_every_metric_the_dashboard_and_alerts_query_has_samples_after_a_workflow(
    gateway: httpx.AsyncClient, projector: object, bus: Bus, dataplane: DataPlane
) -> None:
    wanted = queried_metrics() - FOREIGN
    ops = {
        name: httpx.AsyncClient(
            transport=httpx.ASGITransport(app=ops_app(name, lambda: True)), base_url="http://ops"
        )
        for name in SERVICES
        if name != "gateway"
    }
    seen: set[str] = set()
    counts = {
        name: REGISTRY.get_sample_value(name, {"type": "synthetic"}) or 0.0
        for name in ("tessera_job_latency_seconds_count", "tessera_job_queued_seconds_count")
    }

    async def scrape_all() -> None:
        for client in (gateway, *ops.values()):
            seen.update(await scrape(client))

    tenant = str(uuid.uuid4())
    # two jobs in one lane: the second waits while the first runs (a lane with depth)
    body = {
        "name": "metrics",
        "jobs": [
            {"id": f"load{i}", "type": "synthetic", "branch": "load",
             "params": {"tiles": 16, "seconds_per_tile": 0.05}}
            for i in range(2)
        ],
    }  # fmt: skip
    async with deciders(bus):
        await dataplane.all(inference=1)
        assert REGISTRY.get_sample_value("tessera_inference_workers") == 1  # the live worker
        submitted = await gateway.post("/v1/workflows", json=body, headers={"X-User-ID": tenant})
        assert submitted.status_code == 202, submitted.text
        url = f"/v1/workflows/{submitted.json()['workflow_id']}"
        deadline = asyncio.get_running_loop().time() + 90
        while True:
            await scrape_all()
            got = await gateway.get(url, headers={"X-User-ID": tenant})
            state = got.json()["state"] if got.status_code == 200 else got.status_code
            if state == "SUCCEEDED" and wanted <= seen:
                break
            assert asyncio.get_running_loop().time() < deadline, (state, sorted(wanted - seen))
            await asyncio.sleep(0.2)
    for client in ops.values():
        await client.aclose()

    assert not wanted - seen
    for name, before in counts.items():  # each job observed once, however often it was scraped
        assert REGISTRY.get_sample_value(name, {"type": "synthetic"}) == before + 2, name
