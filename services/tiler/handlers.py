"""The tiler: JobStarted → plan → JobPlanned → tile batches into TILES, one window for all jobs.

The tiler follows the event log with an ordered feed and keeps its state in memory, rebuilt by
replaying the log on start (like the other deciders). A durable consumer of JobStarted alone
would not do: the tiler also needs each workflow's spec (WorkflowSubmitted), whether an attempt
was already planned (JobPlanned) and when it ends (to stop publishing), and its work on an
attempt lasts as long as the attempt: holding a JobStarted message unacked for hours against
an ack wait would be the wrong tool. After a restart every attempt the log says is still
running is planned again (deterministic) and resumed from the merger's tiles-done ledger;
batches republished within the duplicate window are dropped by `Nats-Msg-Id`.

Flow control: TILES holds at most `window` batches (queued or in a worker's hands), whichever
attempts they belong to (one that published its last batch, or ended, still has batches there),
counted per attempt subject from the stream itself; free places are refilled every tick, each to
the attempt with the fewest in TILES, in turn (`domain.refill`; `pumps` is the turn order). The
stream therefore interleaves the running jobs and the pool, which serves it in order, serves them
in turn: a small job started after a huge one waits behind at most one window, not all of the
huge one's tiles, many one-batch jobs together have one window, not one each, and no credit
protocol is needed (a crashed worker's batch stays in the stream, so it still counts until it
is redone).

One `Tiler` plans at a time: further replicas stand by on the `tiler` lease (`main.py`), since
two would both plan every attempt and each keep a window of its own in TILES.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from tessera.bus import Bus, retry_delay
from tessera.decider import FollowedLog
from tessera.errors import BusError
from tessera.events import Event, JobPlanned, decision_id
from tessera.snapshots import Snapshots, fingerprint
from tessera.tiler.adapters.ledger import tiles_done
from tessera.tiler.adapters.models import ModelInfoCache
from tessera.tiler.adapters.planning import MaskSource, Plan, Target, plan_job
from tessera.tiler.adapters.queue import TileQueue
from tessera.tiler.domain import (
    Backlog,
    Ended,
    Reaction,
    Started,
    TilerState,
    evolve,
    failure_of,
    mask_dependency,
    refill,
)
from tessera.tiler.settings import TilerSettings
from tessera.tiling.work import JobRef, TileBatch, results_subject, tiles_subject
from tessera.workflows import CellSegmentationParams

log = structlog.get_logger(__name__)

REPLAY_PATIENCE_S = 5.0


@dataclass
class Pump:
    """The batches of one attempt not yet published."""

    ref: JobRef
    subject: str
    pending: deque[TileBatch] = field(default_factory=deque)


class Tiler:
    def __init__(
        self, bus: Bus, settings: TilerSettings, models: ModelInfoCache | None = None
    ) -> None:
        self.bus = bus
        self.settings = settings
        self.fold = FollowedLog(
            TilerState(),
            evolve,
            Snapshots(bus, "tiler", fingerprint(TilerState), settings.snapshot_every),
        )
        self.queue = TileQueue(bus)
        self.models = models or ModelInfoCache()
        self.pumps: dict[str, Pump] = {}  # in turn order: the next to be served first
        self.planning: dict[JobRef, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(settings.plan_concurrency)
        self._wake = asyncio.Event()

    @property
    def state(self) -> TilerState:
        return self.fold.state

    async def run(self, stop: asyncio.Event, on_ready: Callable[[], None] | None = None) -> None:
        """Replay the log, resume running attempts, then follow the log until `stop`."""
        start = await self.fold.restore()
        end = await self.bus.last_sequence()
        async with self.bus.feed(start_seq=start) as feed:
            await self.fold.replay(feed, end, patience=REPLAY_PATIENCE_S)
            log.info("tiler_replayed", last_seq=self.fold.last_seq, running=len(self.state.running))
            for ref in list(self.state.running.values()):
                self._start(ref)
            if on_ready is not None:
                on_ready()
            pump = asyncio.create_task(self._pump(stop))
            try:
                while not stop.is_set():
                    for env in await feed.batch(max_size=500, timeout=0.25):
                        await self._react(self.fold.apply(env))
                    self.fold.observe()
            finally:
                pump.cancel()
                tasks = [pump, *self.planning.values()]
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await self.fold.save()

    async def _react(self, reaction: Reaction | None) -> None:
        match reaction:
            case Started(ref=ref):
                self._start(ref)
            case Ended(ref=ref, why=why):
                # Stop publishing. What is already in TILES (at most a window) runs and the
                # merger drops it: purging the subject instead would be cheaper, but on
                # nats-server 2.9 a filtered purge makes the shared consumer skip the other
                # jobs' batches (seen here on 2.9.10; fine on 2.15).
                self.pumps.pop(ref.key, None)
                task = self.planning.pop(ref, None)
                if task is not None:
                    task.cancel()
                log.info("attempt_ended", job_id=ref.job_id, attempt=ref.attempt, why=why)

    def _start(self, ref: JobRef) -> None:
        if ref in self.planning:
            return
        task = asyncio.create_task(self._plan_and_queue(ref))
        self.planning[ref] = task
        task.add_done_callback(lambda t: self._planned(ref, t))

    def _planned(self, ref: JobRef, task: asyncio.Task[None]) -> None:
        if self.planning.get(ref) is task:
            del self.planning[ref]
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("planning_crashed", job_id=ref.job_id, attempt=ref.attempt, error=repr(error))

    async def _append(self, ref: JobRef, event: Event) -> bool:
        """Append a decision about `ref`, retrying bus errors while the attempt runs."""
        return await self._retrying(ref, event.type, lambda: self.bus.append(event))

    async def _retrying(
        self, ref: JobRef, what: str, operation: Callable[[], Awaitable[object]]
    ) -> bool:
        """Run a bus operation for `ref` until it goes through (True) or the attempt ended."""
        tries = 0
        while self.state.is_running(ref):
            try:
                await operation()
                return True
            except BusError as exc:
                tries += 1
                log.warning("bus_retry", job_id=ref.job_id, what=what, error=str(exc))
                await asyncio.sleep(retry_delay(tries))
        return False

    async def _plan_and_queue(self, ref: JobRef) -> None:
        spec = self.state.spec(ref)
        bound = log.bind(tenant_id=str(ref.tenant_id), workflow_id=str(ref.workflow_id))
        bound = bound.bind(job_id=ref.job_id, attempt=ref.attempt)
        if spec is None:
            bound.warning("job_started_without_spec")
            return
        ns = self.bus.names.ns
        target = Target(
            ref,
            results_subject(ns, ref, self.settings.merger_partitions),
            self.settings.batch_tiles,
        )
        try:
            async with self._slots:
                model = None
                if spec.type == "cell_segmentation":
                    params = CellSegmentationParams.model_validate(spec.params)
                    model = await self.models.get(params.model)
                dep = mask_dependency(self.state, ref, spec)
                plan: Plan = await asyncio.to_thread(
                    plan_job,
                    target,
                    spec,
                    self.settings.data_root,
                    model,
                    mask_from=MaskSource(dep, self.settings.results_root) if dep else None,
                    stats_tiles=self.settings.stats_sample_tiles,
                )
                done = await asyncio.to_thread(
                    tiles_done, ref.results_dir(self.settings.results_root)
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reason, retryable = failure_of(exc)
            bound.warning("planning_failed", reason=reason, retryable=retryable)
            failed = ref.attempt_failed(reason, retryable=retryable)
            await self._append(ref, failed)
            return
        if not self.state.is_running(ref):
            return
        if ref not in self.state.planned:
            planned = JobPlanned(
                event_id=decision_id("JobPlanned", ref.workflow_id, ref.job_id, ref.attempt),
                tenant_id=ref.tenant_id,
                workflow_id=ref.workflow_id,
                job_id=ref.job_id,
                attempt=ref.attempt,
                tiles_total=plan.tiles_total,
                tissue_fraction=plan.tissue_fraction,
                grid=plan.details.event_dict(),
            )
            if not await self._append(ref, planned):
                return
            evolve(self.state, planned)  # planned now, not once the feed brings it back
        bound.info(
            "job_planned", tiles=plan.tiles_total, batches=len(plan.batches), resumed=len(done)
        )
        if plan.tiles_total == 0:
            empty = target.results_subject
            await self._retrying(ref, "empty plan", lambda: self.queue.announce_empty(ref, empty))
            return
        pending = deque(b for b in plan.batches if not done.issuperset(b.tiles))
        if pending:
            self.pumps[ref.key] = Pump(ref, tiles_subject(ns, ref), pending)
            self._wake.set()

    async def _pump(self, stop: asyncio.Event) -> None:
        """Keep the shared window of batches in TILES full, the fewest-in-TILES attempt first."""
        while not stop.is_set():
            if self.pumps:
                try:
                    await self._refill()
                except BusError as exc:
                    log.warning("tiles_refill_failed", error=str(exc))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.tick_s)

    async def _refill(self) -> None:
        counts = await self.queue.in_flight()  # every attempt's, those with nothing left too
        backlog = [
            Backlog(k, counts.get(p.subject, 0), len(p.pending)) for k, p in self.pumps.items()
        ]
        for key in refill(backlog, self.settings.window, sum(counts.values())):
            pump = self.pumps.get(key)
            if pump is None or not pump.pending:
                continue  # ended meanwhile
            batch = pump.pending.popleft()
            try:
                await self.queue.publish(pump.subject, batch)
            except BusError:
                pump.pending.appendleft(batch)
                raise
            self.pumps[key] = self.pumps.pop(key)  # to the back of the turn order
        for key in [k for k, p in self.pumps.items() if not p.pending]:
            del self.pumps[key]
