"""The data plane (tiler, inference, merger) on the in-memory bus: the crash and redelivery
cases that used to need a NATS server, in the unit tier.

Services run in this process on one `MemoryBus`, each as its real shell (`Tiler`,
`InferenceWorker`, `Merger`). A crash is a cancelled task that answers nothing; time for the
bus (ack waits, the duplicate window) moves with a fake clock, so a batch that a crashed worker
held comes back at once, and its results are published again past the duplicate window: only
the merger's ledger stands between them and a double count.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from tessera.bus import DUPLICATE_WINDOW_S, MemoryBus
from tessera.events import AnyEvent, JobStarted, WorkflowSubmitted
from tessera.inference.domain import Ack
from tessera.inference.handlers import InferenceWorker
from tessera.inference.settings import InferenceSettings
from tessera.merger.handlers import Merger
from tessera.merger.settings import MergerSettings
from tessera.tiler.handlers import Tiler
from tessera.tiler.settings import TilerSettings
from tessera.tiling.work import TileBatch
from tessera.workflows import JobSpec, WorkflowSpec
from tests.unit.gateway.ratelimit_contract import FakeClock

TERMINAL = {"JobSucceeded", "JobAttemptFailed", "JobFailed", "JobCancelled"}
TILES = 16  # 4 batches of 4
WINDOW = 2
ACK_WAIT_S = 5.0
SECONDS_PER_TILE = 0.001  # what each tile's result reports as its work: summed once per tile
Run = Callable[[asyncio.Event, Callable[[], None] | None], Coroutine[Any, Any, None]]


class Plane:
    """One memory bus, the services running on it, and a fake clock for the bus's deadlines."""

    def __init__(self, root: Path) -> None:
        self.clock = FakeClock()
        self.bus = MemoryBus("tunit", clock=self.clock)
        self.base: dict[str, Any] = {"results_root": root, "namespace": "tunit", "log_json": False}
        self.tasks: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start(self, run: Run) -> asyncio.Task[None]:
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(run(stop, ready.set))
        self.tasks.append((stop, task))
        waiting = asyncio.create_task(ready.wait())
        await asyncio.wait([waiting, task], return_when=asyncio.FIRST_COMPLETED, timeout=10)
        waiting.cancel()
        if task.done():
            task.result()
        return task

    async def tiler(self, window: int = WINDOW) -> tuple[Tiler, asyncio.Task[None]]:
        settings = TilerSettings(**self.base, window=window, batch_tiles=4, tick_s=0.01)
        tiler = Tiler(self.bus, settings)
        return tiler, await self.start(tiler.run)

    async def merger(self) -> tuple[Merger, asyncio.Task[None]]:
        merger = Merger(self.bus, MergerSettings(**self.base, progress_interval_s=0))
        return merger, await self.start(merger.run)

    def worker(self) -> InferenceWorker:
        settings = InferenceSettings(**self.base, ack_wait_s=ACK_WAIT_S, max_deliveries=2)
        return InferenceWorker(self.bus, settings)

    async def submit(self, tiles: int = TILES) -> tuple[uuid.UUID, uuid.UUID]:
        tenant, workflow = uuid.uuid4(), uuid.uuid4()
        params = {"tiles": tiles, "seconds_per_tile": SECONDS_PER_TILE}
        job = JobSpec(id="load", type="synthetic", params=params)
        spec = WorkflowSpec(name="unit", jobs=[job])
        await self.bus.append(WorkflowSubmitted(tenant_id=tenant, workflow_id=workflow, spec=spec))
        await self.bus.append(
            JobStarted(tenant_id=tenant, workflow_id=workflow, job_id="load", attempt=1)
        )
        return tenant, workflow

    async def events_until(self, done: Callable[[list[AnyEvent]], bool]) -> list[AnyEvent]:
        seen: list[AnyEvent] = []
        async with self.bus.feed() as feed:
            while not done(seen):
                env = await feed.get(timeout=10)
                assert env is not None, f"stuck; events so far: {[e.type for e in seen]}"
                seen.append(env.event)
        return seen

    async def finished(self) -> list[AnyEvent]:
        return await self.events_until(lambda seen: any(e.type in TERMINAL for e in seen))

    async def aclose(self) -> None:
        for stop, _ in self.tasks:
            stop.set()
        await asyncio.gather(*(task for _, task in self.tasks), return_exceptions=True)


def progress_and_success(events: list[AnyEvent]) -> tuple[list[int], list[AnyEvent]]:
    progressed = [e.tiles_done for e in events if e.type == "JobProgressed"]  # type: ignore[union-attr]
    return progressed, [e for e in events if e.type == "JobSucceeded"]


async def crash(task: asyncio.Task[None]) -> None:
    """A crash: the service stops at once and answers nothing it holds."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_batch_redelivered_after_a_worker_crash_is_counted_once(plane: Plane) -> None:
    await plane.merger()
    await plane.tiler()
    doomed = plane.worker()
    crashed = asyncio.Event()
    answer = doomed._answer

    async def crash_before_the_first_ack(work: Any, outcome: Any, *args: Any) -> None:
        if isinstance(outcome, Ack) and not crashed.is_set():
            crashed.set()  # its results are in RESULTS; the ack never leaves
            await asyncio.sleep(3600)
        await answer(work, outcome, *args)

    doomed._answer = crash_before_the_first_ack  # type: ignore[method-assign]
    doomed_task = await plane.start(doomed.run)
    await plane.submit()
    await asyncio.wait_for(crashed.wait(), 10)
    await crash(doomed_task)
    # past the ack wait and the duplicate window: the batch comes back and its results are
    # published again, with nothing on the bus to drop them
    plane.clock.advance(DUPLICATE_WINDOW_S + 1)
    survivor = plane.worker()
    await plane.start(survivor.run)

    events = await plane.finished()

    progressed, [succeeded] = progress_and_success(events)
    assert survivor.redelivered >= 1  # the batch it crashed on (and one it had read ahead)
    assert progressed == sorted(progressed) and progressed[-1] == TILES
    summary: dict[str, Any] = succeeded.summary  # type: ignore[union-attr]
    assert summary["tiles_done"] == TILES
    assert summary["timings"]["work_s"] == pytest.approx(TILES * SECONDS_PER_TILE)


async def test_a_merger_restarted_mid_job_finishes_it_once(plane: Plane) -> None:
    merger, merger_task = await plane.merger()
    flushed = asyncio.Event()

    async def crash_after_the_first_flush(*args: Any) -> None:
        flushed.set()  # results merged and flushed, not acked
        await asyncio.sleep(3600)

    merger._progress = crash_after_the_first_flush  # type: ignore[method-assign]
    await plane.tiler()
    await plane.submit()
    await plane.start(plane.worker().run)
    await asyncio.wait_for(flushed.wait(), 10)
    await crash(merger_task)
    plane.clock.advance(60)  # its unacked results come back, to a merger that has them on disk

    await plane.merger()
    events = await plane.finished()

    progressed, [succeeded] = progress_and_success(events)
    assert progressed[-1] == TILES and len(set(progressed)) == len(progressed)
    summary: dict[str, Any] = succeeded.summary  # type: ignore[union-attr]
    assert summary["tiles_done"] == TILES
    assert summary["timings"]["work_s"] == pytest.approx(TILES * SECONDS_PER_TILE)


async def test_the_tiler_keeps_its_window_and_a_restarted_one_queues_nothing_twice(
    plane: Plane,
) -> None:
    _, tiler_task = await plane.tiler()
    await plane.submit()
    consumer = await plane.worker().consumer()
    names = plane.bus.names
    delivered: list[int] = []
    while len(delivered) < TILES // 4:
        [msg] = await consumer.fetch(1, 10)
        delivered.append(TileBatch.model_validate_json(msg.data).batch)
        in_tiles = await plane.bus.in_flight(names.tiles_stream, names.tiles())
        assert sum(in_tiles.values()) <= WINDOW
        await msg.ack()
        if len(delivered) == 1:  # a tiler restart mid-job plans again and resumes
            await crash(tiler_task)
            await plane.tiler()

    assert sorted(delivered) == [0, 1, 2, 3]
    assert await consumer.fetch(1, 0.3) == []


async def test_one_batch_jobs_share_the_window_too(plane: Plane) -> None:
    # a job whose one batch is published has nothing left to publish, yet its batch is in TILES:
    # the window counts it, so twenty such jobs never have more than the window queued
    await plane.tiler(window=4)
    workflows = {(await plane.submit(tiles=4))[1] for _ in range(20)}
    await plane.events_until(lambda seen: sum(e.type == "JobPlanned" for e in seen) == 20)
    consumer = await plane.worker().consumer()
    names = plane.bus.names

    async def refilled(expected: int) -> None:  # never above the window while it refills
        for _ in range(200):
            await asyncio.sleep(0.03)  # a few of the tiler's ticks: time to overfill, if it would
            in_tiles = await plane.bus.in_flight(names.tiles_stream, names.tiles())
            assert sum(in_tiles.values()) <= 4
            if sum(in_tiles.values()) == expected:
                return
        raise AssertionError(f"TILES never refilled to {expected}")

    served: list[uuid.UUID] = []
    while len(served) < 20:
        await refilled(min(4, 20 - len(served)))
        [msg] = await consumer.fetch(1, 10)
        served.append(TileBatch.model_validate_json(msg.data).ref.workflow_id)
        await msg.ack()

    assert set(served) == workflows
    assert await consumer.fetch(1, 0.3) == []


async def test_a_batch_workers_keep_dying_on_fails_its_attempt(plane: Plane) -> None:
    await plane.merger()
    await plane.tiler()
    await plane.submit()
    dying = await plane.worker().consumer()
    for delivery in (1, 2):  # two workers take the first batch and die on it
        [msg] = await dying.fetch(1, 10)
        assert (TileBatch.model_validate_json(msg.data).batch, msg.num_delivered) == (0, delivery)
        plane.clock.advance(ACK_WAIT_S + 1)
    await dying.close()

    await plane.start(plane.worker().run)  # the third delivery is one too many
    events = await plane.finished()

    [failed] = [e for e in events if e.type == "JobAttemptFailed"]
    assert "tile batch 0 was delivered 3 times" in failed.reason  # type: ignore[union-attr]
    assert failed.retryable  # type: ignore[union-attr]
    assert not [e for e in events if e.type == "JobSucceeded"]


async def test_an_outage_mid_job_crashes_no_shell_and_loses_no_tile(plane: Plane) -> None:
    _, merger_task = await plane.merger()
    _, tiler_task = await plane.tiler()
    worker = plane.worker()
    worker_task = await plane.start(worker.run)
    await plane.submit()
    await plane.events_until(lambda seen: any(e.type == "JobProgressed" for e in seen))

    with plane.bus.outage():  # fetches, publishes and appends fail; answers are lost
        await asyncio.sleep(0.3)
        assert not any(t.done() for t in (merger_task, tiler_task, worker_task))

    async def time_passes() -> None:  # what was answered in the outage, or naked with a
        while True:  # backoff, comes back (each bus's clock is the fake one)
            plane.clock.advance(1.0)
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(time_passes())
    try:
        events = await plane.finished()
    finally:
        ticking.cancel()

    assert not any(t.done() for t in (merger_task, tiler_task, worker_task))
    progressed, [succeeded] = progress_and_success(events)
    assert progressed[-1] == TILES
    assert not [e for e in events if e.type == "JobAttemptFailed"]
    summary: dict[str, Any] = succeeded.summary  # type: ignore[union-attr]
    assert summary["tiles_done"] == TILES
    assert summary["timings"]["work_s"] == pytest.approx(TILES * SECONDS_PER_TILE)
