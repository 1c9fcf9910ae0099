"""The data plane in-process: tiler, inference replicas and merger, each with its own connection.

Services run through their real `serve(rt)` entry points, each on its own NATS connection like a
process of its own. `kill()` cancels a service and drops its connection without acking or
draining anything, which is what a crash looks like to JetStream. Jobs are started by appending
WorkflowSubmitted + JobStarted directly, standing in for the scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

from tessera.bus import Bus, JetStreamBus
from tessera.embedded import ServerURLs
from tessera.events import AnyEvent, JobStarted, WorkflowSubmitted
from tessera.inference.main import serve as serve_inference
from tessera.inference.settings import InferenceSettings
from tessera.merger.main import serve as serve_merger
from tessera.merger.settings import MergerSettings
from tessera.service import Runtime
from tessera.settings import REPO_ROOT, Settings
from tessera.tiler.main import serve as serve_tiler
from tessera.tiler.settings import TilerSettings
from tessera.workflows import JobSpec, WorkflowSpec
from tests.integration.dataplane.models import export_dark_blobs, export_tiny_instanseg

DATA_ROOT = REPO_ROOT / "data" / "slides"
CMU = "CMU-1-Small-Region.svs"
TERMINAL = {"JobSucceeded", "JobAttemptFailed", "JobFailed", "JobCancelled"}

Serve = Callable[[Runtime], Coroutine[Any, Any, None]]


@pytest.fixture(autouse=True)
def _one_torch_thread() -> None:
    torch.set_num_threads(1)  # two shared cores: keep the forward off the other tests' toes


@pytest.fixture(scope="session")
def blobs_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_dark_blobs(tmp_path_factory.mktemp("models") / "dark_blobs", 1.0).parent


@pytest.fixture(scope="session")
def tiny_instanseg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("models") / "tiny_instanseg"
    return export_tiny_instanseg(folder, pixel_size=2.0).parent


@dataclass
class Service:
    name: str
    rt: Runtime
    task: asyncio.Task[None]
    killed: bool = False

    async def stop(self) -> None:
        """Graceful: set stop, let it drain, close its connection."""
        self.rt.stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(self.task), 15)
        finally:
            if not self.task.done():
                self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            await self.rt.bus.close()
        if not self.task.cancelled() and self.task.exception() is not None:
            raise self.task.exception()  # type: ignore[misc]

    async def kill(self) -> None:
        """A crash: the connection goes first (no ack, nak or drain after this), then the task.

        Cancelling alone is not a crash: nats.py swallows a cancellation that lands while it
        flushes a publish, and the service would carry on.
        """
        self.killed = True
        with contextlib.suppress(Exception):
            await self.rt.bus.nc.close()
        while not self.task.done():
            self.task.cancel()
            await asyncio.wait([self.task], timeout=0.05)


@dataclass
class DataPlane:
    base: dict[str, Any]
    bus: Bus
    services: list[Service] = field(default_factory=list)

    async def start(self, name: str, serve: Serve, settings: Settings) -> Service:
        bus = await JetStreamBus.connect(
            settings.nats_url,
            settings.namespace,
            name=f"test-{name}",
            replicas=settings.stream_replicas,
        )
        await bus.ensure_streams()
        rt = Runtime(name=name, settings=settings, bus=bus)
        service = Service(name, rt, asyncio.create_task(serve(rt)))
        self.services.append(service)
        for _ in range(500):  # ready = log replayed and consumer created
            if rt.ready or service.task.done():
                break
            await asyncio.sleep(0.01)
        if service.task.done():
            service.task.result()
        return service

    async def tiler(self, **overrides: Any) -> Service:
        return await self.start("tiler", serve_tiler, TilerSettings(**self.base, **overrides))

    async def inference(self, **overrides: Any) -> Service:
        options = {"ack_wait_s": 2.0, "threads": 1, **overrides}
        return await self.start(
            "inference", serve_inference, InferenceSettings(**self.base, **options)
        )

    async def merger(self, **overrides: Any) -> Service:
        return await self.start("merger", serve_merger, MergerSettings(**self.base, **overrides))

    async def all(self, inference: int = 1) -> None:
        await self.merger()
        for _ in range(inference):
            await self.inference()
        await self.tiler()

    async def submit(
        self, *jobs: JobSpec, tenant: uuid.UUID | None = None, start: bool = True
    ) -> tuple[uuid.UUID, uuid.UUID]:
        """Append a workflow and (unless `start=False`) JobStarted for each job, attempt 1."""
        tenant = tenant or uuid.uuid4()
        workflow = uuid.uuid4()
        spec = WorkflowSpec(name="dataplane test", jobs=jobs)
        await self.bus.append(WorkflowSubmitted(tenant_id=tenant, workflow_id=workflow, spec=spec))
        if start:
            for job in jobs:
                await self.start_job(tenant, workflow, job.id)
        return tenant, workflow

    async def start_job(
        self, tenant: uuid.UUID, workflow: uuid.UUID, job_id: str, attempt: int = 1
    ) -> None:
        await self.bus.append(
            JobStarted(tenant_id=tenant, workflow_id=workflow, job_id=job_id, attempt=attempt)
        )

    async def events(
        self,
        tenant: uuid.UUID,
        workflow: uuid.UUID,
        *,
        until: Callable[[list[AnyEvent]], bool],
        timeout: float = 60.0,
    ) -> list[AnyEvent]:
        """The workflow's events from the start of the log until `until(events)` holds."""
        subject = f"{self.bus.names.ns}.evt.{tenant}.{workflow}.>"
        seen: list[AnyEvent] = []
        deadline = asyncio.get_running_loop().time() + timeout
        async with self.bus.feed(subject=subject) as feed:
            while not until(seen):
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise AssertionError(f"timed out; events so far: {[e.type for e in seen]}")
                env = await feed.get(timeout=min(left, 1.0))
                if env is not None:
                    seen.append(env.event)
        return seen

    async def finished(
        self, tenant: uuid.UUID, workflow: uuid.UUID, jobs: int = 1, timeout: float = 60.0
    ) -> list[AnyEvent]:
        """Events until `jobs` jobs of the workflow reached a terminal event."""

        def done(events: list[AnyEvent]) -> bool:
            return len({e.job_id for e in events if e.type in TERMINAL}) >= jobs  # type: ignore[union-attr]

        return await self.events(tenant, workflow, until=done, timeout=timeout)

    async def aclose(self) -> None:
        """Stop what still runs; re-raise the first error a service ended with."""
        running = [s for s in self.services if not s.task.done()]
        outcomes = await asyncio.gather(*(s.stop() for s in running), return_exceptions=True)
        errors = [e for e in outcomes if isinstance(e, BaseException)]
        errors += [
            s.task.exception()
            for s in self.services
            if s not in running
            and not s.killed
            and not s.task.cancelled()
            and s.task.exception() is not None
        ]
        if errors:
            raise errors[0]  # type: ignore[misc]


@pytest.fixture
def dp_base(servers: ServerURLs, namespace: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "nats_url": servers.nats_url,
        "namespace": namespace,
        "data_root": DATA_ROOT,
        "results_root": tmp_path / "results",
        "log_json": False,
        "lease_ttl_s": 2.0,  # a killed tiler's standby or replacement plans within ~2.7 s
    }


@pytest.fixture
async def dataplane(dp_base: dict[str, Any]) -> AsyncIterator[DataPlane]:
    bus = await JetStreamBus.connect(
        dp_base["nats_url"], dp_base["namespace"], name="test-dataplane"
    )
    await bus.ensure_streams()
    plane = DataPlane(dp_base, bus)
    try:
        yield plane
    finally:
        await plane.aclose()
        await bus.delete_streams()
        await bus.close()


def of_type(events: list[AnyEvent], kind: str) -> list[Any]:
    return [e for e in events if e.type == kind]
