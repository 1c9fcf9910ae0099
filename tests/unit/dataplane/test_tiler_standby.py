"""Two tiler replicas on the in-memory bus: one plans, the other stands by and takes over.

Each replica runs the real shell (`tessera.tiler.main.serve`) on its own view of one `MemoryBus`;
a crash severs that view (nothing the replica sends arrives any more, like a process killed
with -9: its lease is not released) and cancels it. The lease's key expires on the bus's fake
clock, so the takeover is a clock step, not a wait.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from tessera.bus import Bus
from tessera.errors import BusError
from tessera.service import Runtime
from tessera.tiler import handlers as tiler_handlers
from tessera.tiler.main import serve
from tessera.tiler.settings import TilerSettings
from tests.unit.dataplane.test_on_memory_bus import (
    TERMINAL,
    TILES,
    WINDOW,
    Plane,
    progress_and_success,
)

TTL_S = 1.0  # the settings' floor; the standby retries every third of it (real time)


class Severable:
    """One replica's view of the shared bus; `sever()` is its crash (calls raise from then on)."""

    def __init__(self, target: object, severed: asyncio.Event | None = None) -> None:
        self._target = target
        self._severed = severed or asyncio.Event()

    def sever(self) -> None:
        self._severed.set()

    @property
    def connected(self) -> bool:
        return not self._severed.is_set()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self._severed.is_set():
                raise BusError("severed: this replica crashed")
            result = await attr(*args, **kwargs)
            return Severable(result, self._severed) if name == "key_value" else result

        return call


class Replicas:
    """Tiler replicas on `plane`'s bus, counting the slides planned by all of them together."""

    def __init__(self, plane: Plane, monkeypatch: pytest.MonkeyPatch) -> None:
        self.plane = plane
        self.plans = 0
        self.running: list[tuple[Runtime[TilerSettings], Severable, asyncio.Task[None]]] = []
        plan_job = tiler_handlers.plan_job

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.plans += 1
            return plan_job(*args, **kwargs)

        monkeypatch.setattr(tiler_handlers, "plan_job", counted)

    async def start(self) -> int:
        settings = TilerSettings(
            **self.plane.base, window=WINDOW, batch_tiles=4, tick_s=0.01, lease_ttl_s=TTL_S
        )
        view = Severable(self.plane.bus)
        rt = Runtime(name="tiler", settings=settings, bus=cast(Bus, view))
        self.running.append((rt, view, asyncio.create_task(serve(rt))))
        return len(self.running) - 1

    async def crash(self, replica: int) -> None:
        _, view, task = self.running[replica]
        view.sever()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def aclose(self) -> None:
        for rt, _, _ in self.running:
            rt.stop.set()
        await asyncio.gather(*(task for _, _, task in self.running), return_exceptions=True)


@pytest.fixture
async def replicas(plane: Plane, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Replicas]:
    running = Replicas(plane, monkeypatch)
    try:
        yield running
    finally:
        await running.aclose()


async def succeeded_once(plane: Plane, workflow: uuid.UUID) -> None:
    """Until the workflow's job ended; it succeeded, every tile counted once."""
    events = await plane.events_until(
        lambda seen: any(e.type in TERMINAL and e.workflow_id == workflow for e in seen)
    )
    progressed, [succeeded] = progress_and_success(
        [e for e in events if e.workflow_id == workflow]  # type: ignore[union-attr]
    )
    assert progressed == sorted(progressed) and progressed[-1] == TILES
    assert succeeded.summary["tiles_done"] == TILES  # type: ignore[union-attr]


async def test_of_two_tiler_replicas_one_plans_each_job(plane: Plane, replicas: Replicas) -> None:
    await plane.merger()
    await plane.start(plane.worker().run)
    await replicas.start()
    _, workflow = await plane.submit()
    await succeeded_once(plane, workflow)  # planned by the one replica there is
    await replicas.start()  # a second replica, when the first leads

    for _ in range(2):
        _, workflow = await plane.submit()
        await succeeded_once(plane, workflow)

    assert replicas.plans == 3  # one per job: the second replica stood by


async def test_a_standby_takes_over_from_a_crashed_tiler_and_the_job_finishes(
    plane: Plane, replicas: Replicas
) -> None:
    await plane.merger()
    leader = await replicas.start()
    _, workflow = await plane.submit()
    consumer = await plane.worker().consumer()
    [msg] = await consumer.fetch(1, 10)  # the leader planned and published
    await msg.nak()
    await consumer.close()
    await replicas.start()
    await asyncio.sleep(TTL_S)  # the second replica tries the lease a few times meanwhile
    assert replicas.plans == 1

    await replicas.crash(leader)  # its lease stays in the bucket until it expires
    await asyncio.sleep(TTL_S)
    assert replicas.plans == 1
    plane.clock.advance(TTL_S)  # the key expires: the standby's next try takes the role
    await plane.start(plane.worker().run)

    await succeeded_once(plane, workflow)
    assert replicas.plans == 2  # the standby planned the running attempt again and resumed it
