"""Every service's ops endpoint: metrics, liveness, readiness that follows the service."""

from __future__ import annotations

import httpx

from tessera.ops import ops_app


async def test_ops_endpoints_report_metrics_health_and_readiness() -> None:
    ready = {"now": False}
    app = ops_app("tiler", lambda: ready["now"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as c:
        assert (await c.get("/healthz")).json() == {"status": "ok", "service": "tiler"}
        assert (await c.get("/readyz")).status_code == 503
        ready["now"] = True
        assert (await c.get("/readyz")).status_code == 200
        metrics = (await c.get("/metrics")).text
        assert "tessera_events_appended_total" in metrics


def test_a_decider_that_stops_leading_clears_its_gauges() -> None:
    from prometheus_client import REGISTRY

    from tessera import telemetry

    telemetry.WORKER_ACTIVE_JOBS.set(5)
    telemetry.QUEUE_DEPTH.labels(scope="ready").set(3)
    telemetry.set_lane_depths([("t1", "cells", 4), ("t2", "qc", 1)])
    telemetry.ADMISSION_ACTIVE.set(2)
    assert (
        REGISTRY.get_sample_value("tessera_branch_queue_depth", {"tenant": "t1", "branch": "cells"})
        == 4
    )
    telemetry.set_lane_depths([("t2", "qc", 2)])  # a lane that emptied loses its series
    assert (
        REGISTRY.get_sample_value("tessera_branch_queue_depth", {"tenant": "t1", "branch": "cells"})
        is None
    )

    telemetry.clear_decider_gauges("branch-sequencer")

    assert REGISTRY.get_sample_value("tessera_worker_active_jobs") == 0
    assert REGISTRY.get_sample_value("tessera_queue_depth", {"scope": "ready"}) is None
    assert (
        REGISTRY.get_sample_value("tessera_branch_queue_depth", {"tenant": "t2", "branch": "qc"})
        is None
    )
    assert REGISTRY.get_sample_value("tessera_admission_active_tenants") == 2  # not its gauge
    telemetry.clear_decider_gauges("admission")
    assert REGISTRY.get_sample_value("tessera_admission_active_tenants") == 0
