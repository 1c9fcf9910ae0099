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
