"""Two gateway processes behind one address (`tessera serve gateway` twice on one port, as
`tessera up --gateways 2` runs them): the kernel spreads connections over both (SO_REUSEPORT),
a tenant reads its writes whichever answers, its rate limit holds across both, and the address
keeps serving when one of them is killed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tessera.embedded import free_port
from tessera.gateway.settings import GatewaySettings
from tests.integration.gateway.conftest import SYNTHETIC, headers

pytestmark = pytest.mark.integration

TOKEN = "X-Tessera-Seq"
BURST = 20  # requests a tenant may make at once; refilled at RATE per second
RATE = 0.5


def environment(settings: GatewaySettings, port: int, **limits: str) -> dict[str, str]:
    return {
        **os.environ,
        "NATS_URL": settings.nats_url,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "TESSERA_NAMESPACE": settings.namespace,
        "TESSERA_DATA_ROOT": str(settings.data_root),
        "TESSERA_RESULTS_ROOT": str(settings.results_root),
        "TESSERA_GATEWAY_HOST": "127.0.0.1",
        "TESSERA_GATEWAY_PORT": str(port),
        "TESSERA_LOG_LEVEL": "WARNING",
        **limits,
    }


async def fresh(url: str, method: str, path: str, **kwargs: object) -> httpx.Response:
    """One request on a connection of its own: the kernel picks the process for each (the
    projector runs in this test's event loop, so nothing here may block it)."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


async def until_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the gateway exited with {proc.returncode}"
        try:
            if (await fresh(url, "GET", "/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("the gateway did not become ready")


class Replicas:
    """Gateway processes listening on one port."""

    def __init__(self, env: dict[str, str], url: str, logs: Path) -> None:
        self.env, self.url, self.logs = env, url, logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self) -> subprocess.Popen[bytes]:
        with (self.logs / f"gateway-{len(self.procs)}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tessera.cli", "serve", "gateway"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.procs.append(proc)
        return proc

    async def start(self) -> None:
        # ready once one of them answers; the second's start is seen by `served`
        await until_healthy(self.url, self.spawn())

    async def served(self, route: str) -> dict[float, float]:
        """Requests to `route` per process (keyed by its start time), scraped until all answered."""
        seen: dict[float, float] = {}
        alive = sum(p.poll() is None for p in self.procs)
        deadline = time.monotonic() + 60  # a process just started may still be importing
        while time.monotonic() < deadline:
            text = (await fresh(self.url, "GET", "/metrics")).text
            families = {f.name: f for f in text_string_to_metric_families(text)}
            [started] = families["process_start_time_seconds"].samples
            seen[started.value] = sum(
                s.value
                for s in families["tessera_http_requests"].samples
                if s.name.endswith("_total") and s.labels["route"] == route
            )
            alive = sum(p.poll() is None for p in self.procs)
            if len(seen) == alive:
                return seen
            await asyncio.sleep(0.02)
        raise AssertionError(f"{len(seen)} of {alive} gateway processes answered on {self.url}")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
async def replicas(
    settings: GatewaySettings, tmp_path: Path, projector: object
) -> AsyncIterator[Replicas]:
    port = free_port()
    limits = {"TESSERA_GATEWAY_API_RATE_PER_S": str(RATE), "TESSERA_GATEWAY_API_BURST": str(BURST)}
    running = Replicas(environment(settings, port, **limits), f"http://127.0.0.1:{port}", tmp_path)
    try:
        await running.start()
        await running.start()
        await running.served("/readyz")  # both listen
        yield running
    finally:
        running.stop()


async def test_two_gateways_on_one_port_serve_one_tenant_consistently(replicas: Replicas) -> None:
    writer, limited = uuid.uuid4(), uuid.uuid4()
    for _ in range(4):  # each write read back on a connection of its own (5 submissions at once)
        submitted = await fresh(replicas.url, "POST", "/v1/workflows", json=SYNTHETIC, headers={
            **headers(writer), "Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
        assert submitted.status_code == 202, submitted.text
        wid, token = submitted.json()["workflow_id"], submitted.headers[TOKEN]
        got = await fresh(replicas.url, "GET", f"/v1/workflows/{wid}", headers={
            **headers(writer), TOKEN: token})  # fmt: skip
        assert got.status_code == 200 and got.json()["id"] == wid, got.text

    began = time.monotonic()
    statuses = [
        (await fresh(replicas.url, "GET", "/v1/workflows", headers=headers(limited))).status_code
        for _ in range(3 * BURST)
    ]
    refilled = (time.monotonic() - began) * RATE
    assert statuses.count(200) <= BURST + refilled + 1  # one bucket, not one per gateway
    assert statuses[:BURST] == [200] * BURST and statuses[-1] == 429

    served = await replicas.served("/v1/workflows")
    assert len(served) == 2 and all(n > 0 for n in served.values()), served  # both answered

    replicas.procs[0].send_signal(signal.SIGKILL)
    replicas.procs[0].wait(10)
    for _ in range(10):  # the address stays: the survivor takes every connection
        assert (await fresh(replicas.url, "GET", "/healthz")).status_code == 200
