"""The merger: RESULTS → an attempt's outputs → JobProgressed (throttled) → JobSucceeded.

One merger owns an attempt's output folder: a chunk's read-modify-write needs one writer. The
merger replica of partition `p` consumes `<ns>.results.<p>.>` through its own durable consumer
(WorkQueue streams accept several consumers only with disjoint filters); with one partition,
the default, one merger owns everything. More mergers: raise `TESSERA_MERGER_PARTITIONS` for
the tiler and every merger, and start one merger per partition index.

Results are fetched in small batches, applied in any order, flushed, and only then acked, so a
crash loses nothing acknowledged and a redelivered result finds its tile in the ledger and is
skipped. The attempt's plan, and whether it is still current, come from the event log, which the
merger follows like the tiler does (replayed on start). On the last tile the outputs are
finalised and JobSucceeded is appended (deterministic id) before the last results are acked: a
crash in between finalises again and appends a duplicate that JetStream drops. A restarted merger
does that at once for every attempt of its partition whose tiles are all merged, instead of
waiting for the last results to come back after their ack wait. JobProgressed ids are
deterministic too (attempt and tiles done), so a count is announced once. Results of an ended
attempt, a cancelled one's included, are dropped (acked) at once and quietly: they are expected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog

from tessera.bus import Bus, Feed, WorkMessage, WorkQueue, hold_in_progress, pull
from tessera.decider import FollowedLog
from tessera.errors import BusError
from tessera.events import JobProgressed, JobSucceeded, decision_id
from tessera.merger.adapters.outputs import JobOutputs
from tessera.merger.domain import (
    ACK,
    RETRY_S,
    TERM,
    Answer,
    Apply,
    Attempt,
    Drop,
    Ended,
    MergerState,
    Throttle,
    error_answer,
    evolve,
    is_complete,
    timing_summary,
    verdict,
    waiting_answer,
)
from tessera.merger.settings import MergerSettings
from tessera.snapshots import Snapshots, fingerprint
from tessera.tiling.work import MARKER_HEADER, TIMINGS_HEADER, JobRef, results_filter, subject_key

log = structlog.get_logger(__name__)

REPLAY_PATIENCE_S = 5.0
QUPATH_JOB_NAMESPACE = uuid.UUID("0b7a4f0e-2a39-4d43-9d53-4f1f5d1c6a21")


class Merger:
    def __init__(self, bus: Bus, settings: MergerSettings) -> None:
        self.bus = bus
        self.settings = settings
        code = fingerprint(MergerState)
        snapshots = Snapshots(bus, self.consumer_name(), code, settings.snapshot_every)
        self.fold = FollowedLog(MergerState(), evolve, snapshots)
        self.outputs: dict[str, JobOutputs] = {}
        self.throttle = Throttle(settings.progress_interval_s)

    @property
    def state(self) -> MergerState:
        return self.fold.state

    def consumer_name(self) -> str:
        return f"merger-{self.settings.partition}"

    async def run(self, stop: asyncio.Event, on_ready: Callable[[], None] | None = None) -> None:
        start = await self.fold.restore()
        end = await self.bus.last_sequence()
        async with self.bus.feed(start_seq=start) as feed:
            await self.fold.replay(feed, end, patience=REPLAY_PATIENCE_S)
            # A restart forgets nothing that matters: open outputs are reopened from disk.
            log.info(
                "merger_replayed", last_seq=self.fold.last_seq, attempts=len(self.state.by_key)
            )
            await self._finish_merged()
            follower = asyncio.create_task(self._follow(feed, stop))
            names = self.bus.names
            queue = WorkQueue(
                names.results_stream,
                self.consumer_name(),
                results_filter(names.ns, self.settings.partition),
                ack_wait=self.settings.ack_wait_s,
                max_ack_pending=self.settings.fetch_batch * 4,
                max_deliver=self.settings.max_plan_waits + 10,
            )
            consumer = await self.bus.work_consumer(queue)
            if on_ready is not None:
                on_ready()

            def done() -> bool:
                return stop.is_set() or follower.done()

            try:
                batches = pull(
                    consumer, done, self.settings.fetch_batch, wait=self.bus.until_reconnected
                )
                async for msgs in batches:
                    await self.handle(msgs)
            finally:
                follower.cancel()
                await asyncio.gather(follower, return_exceptions=True)
                await consumer.close()
                await self.fold.save()
            if not follower.cancelled() and (error := follower.exception()) is not None:
                raise error  # the log feed died: the merger must not go on blind

    async def _finish_merged(self) -> None:
        """Finish the attempts of this partition whose tiles are all merged: the last merger was
        stopped between its last flush and JobSucceeded."""
        root, partitions = self.settings.results_root, self.settings.merger_partitions
        for attempt in list(self.state.by_key.values()):
            ref, plan = attempt.ref, attempt.plan
            if (
                plan is None
                or ref.key in self.state.ended
                or ref.partition(partitions) != self.settings.partition
                or not (Path(root) / plan.results).exists()
            ):
                continue
            try:
                outputs = await self._outputs(attempt)
                if is_complete(len(outputs.done), attempt.tiles_total):
                    await self._succeed(attempt, outputs)
            except (BusError, OSError) as exc:  # its redelivery finishes it
                log.warning("merger_resume_failed", job_id=ref.job_id, error=str(exc))

    async def _follow(self, feed: Feed, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for env in await feed.batch(max_size=500, timeout=0.25):
                ended = self.fold.apply(env)
                if ended is not None:
                    self._forget(ended)
            self.fold.observe()

    def _forget(self, ended: Ended) -> None:
        """Close an ended attempt's outputs; its late results are dropped as they come.

        (Not purged: on nats-server 2.9 a filtered purge makes the consumer skip the other
        subjects' messages.)
        """
        self.outputs.pop(ended.attempt.ref.key, None)
        self.throttle.forget(ended.attempt.ref.key)

    # --- results -------------------------------------------------------------------------

    async def handle(self, msgs: list[WorkMessage]) -> None:
        """Apply a fetched batch of results, grouped by attempt."""
        groups: dict[str, list[WorkMessage]] = {}
        for msg in msgs:
            groups.setdefault(subject_key(msg.subject), []).append(msg)
        for key, group in groups.items():
            match verdict(self.state, key):
                case Apply(attempt=attempt):
                    await self._apply(attempt, group)
                case Drop():
                    await _answer(group, ACK)
                case _:
                    s = self.settings
                    for msg in group:
                        answer = waiting_answer(msg.num_delivered, s.max_plan_waits, s.plan_wait_s)
                        if answer == TERM:
                            log.warning("result_without_plan_dropped", subject=msg.subject)
                        await _answer([msg], answer)

    async def _apply(self, attempt: Attempt, group: list[WorkMessage]) -> None:
        ref = attempt.ref
        every = max(0.5, self.settings.ack_wait_s / 3)
        holds = [asyncio.create_task(hold_in_progress(m, every)) for m in group]
        merging = True
        try:
            outputs = await self._outputs(attempt)
            started = time.perf_counter()
            items = [(m.data, _timings(m)) for m in group if MARKER_HEADER not in m.headers]
            await asyncio.to_thread(self._apply_and_flush, outputs, items, started)
            merging = False
            done = len(outputs.done)
            if is_complete(done, attempt.tiles_total):
                await self._succeed(attempt, outputs)
            elif self.throttle.due(ref.key, time.monotonic()):
                await self._progress(attempt, done)
            await _answer(group, ACK)
        except Exception as exc:
            answer, reason = error_answer(exc, merging=merging)
            if reason is None:  # redelivered, applied ones skipped
                log.warning("merger_retry", job_id=ref.job_id, error=str(exc))
            else:
                log.warning("merge_failed", job_id=ref.job_id, exc_info=exc)
                try:
                    await self._fail(ref, reason)
                except BusError:  # the failure is not in the log: the results come back
                    answer = Answer("nak", RETRY_S)
            with contextlib.suppress(Exception):  # unanswered, they come back anyway
                await _answer(group, answer)
        finally:
            for hold in holds:
                hold.cancel()

    @staticmethod
    def _apply_and_flush(
        outputs: JobOutputs, items: list[tuple[bytes, dict[str, float]]], started: float
    ) -> None:
        for data, timings in items:
            outputs.apply(data, timings)
        outputs.flush(merge_s=time.perf_counter() - started)

    async def _outputs(self, attempt: Attempt) -> JobOutputs:
        key = attempt.ref.key
        outputs = self.outputs.get(key)
        if outputs is None:
            assert attempt.plan is not None
            ref = attempt.ref
            outputs = await asyncio.to_thread(
                JobOutputs.open_or_create,
                attempt.plan,
                self.settings.results_root,
                attempt.tiles_total,
                uuid.uuid5(QUPATH_JOB_NAMESPACE, f"{ref.workflow_id}/{ref.job_id}"),
            )
            self.outputs[key] = outputs
        return outputs

    async def _succeed(self, attempt: Attempt, outputs: JobOutputs) -> None:
        ref, plan = attempt.ref, attempt.plan
        assert plan is not None
        extra = {
            "tiles_total": attempt.tiles_total,
            "attempt": ref.attempt,
            "results": plan.results,
        }
        if plan.kind == "cell_segmentation":  # a mask job measures its own tissue
            extra |= {
                "tissue_fraction": attempt.tissue_fraction,
                "tissue_area_um2": plan.tissue_area_um2,
                "model": plan.model,
                "model_sha256": plan.model_sha256,
                "model_pixel_size": plan.model_pixel_size,
                "mask_source": plan.mask_source,
            }
        if plan.grid is not None:
            extra["grid_tiles"] = plan.grid.n_tiles
            extra["level"] = plan.level
        wall = (datetime.now(UTC) - attempt.started_at).total_seconds()
        extra["timings"] = timing_summary(plan.timings, outputs.timings, wall_s=wall)
        summary = await asyncio.to_thread(outputs.finalise, extra)
        await self._progress(attempt, len(outputs.done))
        await self.bus.append(
            JobSucceeded(
                event_id=decision_id("JobSucceeded", *_ids(ref)),
                tenant_id=ref.tenant_id,
                workflow_id=ref.workflow_id,
                job_id=ref.job_id,
                attempt=ref.attempt,
                summary=json.loads(json.dumps(summary, default=str)),
            )
        )
        ended = evolve(self.state, _succeeded_marker(ref))
        if ended is not None:
            self._forget(ended)
        log.info("job_succeeded", job_id=ref.job_id, attempt=ref.attempt, tiles=len(outputs.done))

    async def _progress(self, attempt: Attempt, done: int) -> None:
        """Announce `done` tiles unless the log has it already (a restart redoes the last)."""
        if done <= attempt.announced:
            return
        ref = attempt.ref
        progressed = JobProgressed(
            event_id=decision_id("JobProgressed", *_ids(ref), done),
            tiles_done=done,
            tiles_total=attempt.tiles_total,
            **ref.model_dump(),  # the attempt's ids
        )
        await self.bus.append(progressed)
        evolve(self.state, progressed)  # announced now, not once the feed brings it back

    async def _fail(self, ref: JobRef, reason: str) -> None:
        log.warning("attempt_failed", job_id=ref.job_id, reason=reason)
        await self.bus.append(ref.attempt_failed(reason))


async def _answer(group: list[WorkMessage], answer: Answer) -> None:
    for msg in group:
        if answer.how == "ack":
            await msg.ack()
        elif answer.how == "term":
            await msg.term()
        else:
            await msg.nak(delay=answer.delay)


def _ids(ref: JobRef) -> tuple[object, ...]:
    """What names an attempt in a deterministic event id."""
    return (ref.workflow_id, ref.job_id, ref.attempt)


def _timings(msg: WorkMessage) -> dict[str, float]:
    raw = msg.headers.get(TIMINGS_HEADER)
    if not raw:
        return {}
    try:
        values = json.loads(raw)
    except ValueError:
        return {}
    return {str(k): float(v) for k, v in values.items() if isinstance(v, int | float)}


def _succeeded_marker(ref: JobRef) -> JobSucceeded:
    """The JobSucceeded just appended, applied locally at once (the feed brings it later)."""
    return JobSucceeded(
        tenant_id=ref.tenant_id,
        workflow_id=ref.workflow_id,
        job_id=ref.job_id,
        attempt=ref.attempt,
    )
