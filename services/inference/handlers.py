"""The inference worker: TILES batch → read (ahead) → forward → post-process → publish → ack.

All replicas share one durable pull consumer on TILES, so JetStream hands each batch to one of
them. A replica overlaps reading, the model and post-processing: while the model runs on one
batch, the fetch loop already holds the next one and reads its pixels in reader threads
(`prefetch` batches ahead), and the previous one's tiles are cleaned, owned, encoded and
published on the post-processing threads (`post_threads` batches at once). Every batch in
hand is reported alive (`in_progress`) a few times per ack wait, so a long batch is never
redelivered while its worker lives, and a dead worker's batch comes back after one short ack
wait. A batch is acked only after all its results are in RESULTS; a redelivered batch produces
the same results (same ids), which the merger applies once.

A batch that cannot be done (unreadable region, missing model, failed synthetic tile) fails
its attempt with a JobAttemptFailed (deterministic id: many workers failing the same attempt
append it once) and is terminated; a bus error only sends the batch back for redelivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import structlog
from pydantic import ValidationError

from tessera import telemetry
from tessera.bus import (
    Bus,
    WorkConsumer,
    WorkMessage,
    WorkQueue,
    hold_in_progress,
    patiently,
    pull,
)
from tessera.errors import BusError
from tessera.inference.adapters import compute
from tessera.inference.adapters.models import Predictors, Ready
from tessera.inference.adapters.results import publish_result
from tessera.inference.adapters.tiles import TileReader
from tessera.inference.domain import (
    AGAIN,
    Ack,
    BatchOutcome,
    Discard,
    FailAttempt,
    Redeliver,
    SyntheticTileFailed,
    batch_outcome,
    forward_batch_size,
    hold_interval,
    redelivery,
    repeated_delivery,
    synthetic_tile_fails,
)
from tessera.inference.pipeline import Pipeline
from tessera.inference.settings import InferenceSettings
from tessera.segmentation.normalisation import NormalisationStats
from tessera.stitching.encoding import encode_instances
from tessera.tiling.work import (
    CellWork,
    SyntheticWork,
    TileBatch,
    TissueWork,
    result_msg_id,
)

log = structlog.get_logger(__name__)

CONSUMER = "inference"
# a result publish is retried this long (a stream leader election takes seconds) before the
# batch goes back to the queue
PUBLISH_PATIENCE_S = 30.0


@dataclass(eq=False)
class Work:
    """A batch in hand: its message, what was read for it, or why it cannot be done."""

    msg: WorkMessage
    holder: asyncio.Task[None]
    batch: TileBatch | None = None
    pixels: np.ndarray | None = None
    ready: Ready | None = None
    error: Exception | None = None
    timings: dict[str, float] = field(default_factory=dict)


class InferenceWorker:
    def __init__(
        self,
        bus: Bus,
        settings: InferenceSettings,
        predictors: Predictors | None = None,
        reader: TileReader | None = None,
    ) -> None:
        self.bus = bus
        self.settings = settings
        self.predictors = predictors or Predictors(
            settings.device, settings.precision, settings.fragments
        )
        self.reader = reader or TileReader(
            settings.data_root, settings.reader_threads, decode_scaled=settings.decode_scaled
        )
        self._compute = ThreadPoolExecutor(
            1,
            thread_name_prefix="forward",
            initializer=_torch_threads,
            initargs=(settings.threads,),
        )
        self._post = ThreadPoolExecutor(max(1, settings.post_threads), thread_name_prefix="post")
        self._held: set[Work] = set()  # fetched and not answered
        self.flow = Pipeline[Work](settings.prefetch, settings.post_threads)
        self._changed = asyncio.Event()  # set, and replaced, whenever the pipeline moves
        # observed by tests and logs
        self.batches_done = 0
        self.redelivered = 0

    @property
    def in_hand(self) -> int:
        return len(self._held)

    async def consumer(self) -> WorkConsumer:
        names = self.bus.names
        queue = WorkQueue(
            names.tiles_stream,
            CONSUMER,
            names.tiles(),
            ack_wait=self.settings.ack_wait_s,
            max_ack_pending=self.settings.max_ack_pending,
            max_deliver=self.settings.max_deliveries + 1,
        )
        return await self.bus.work_consumer(queue)

    async def preload(self) -> None:
        """Load and warm the `preload` models before taking work; a failure is only logged
        (jobs then load the model themselves and report what is wrong)."""
        tile = self.settings.preload_tile_size
        for setting in self.settings.preload_models:
            try:
                ready = await self.predictors.load(setting)
                predictor = ready.predictor
                size = forward_batch_size(0, self.settings.batch_size, predictor.device.type)
                stats = NormalisationStats((0.0, 0.0, 0.0), (255.0, 255.0, 255.0))
                await asyncio.get_running_loop().run_in_executor(
                    self._compute, predictor.warm_up, tile, tile, size, stats
                )
                log.info("model_preloaded", model=setting, device=str(predictor.device))
            except Exception as exc:
                log.warning("model_preload_failed", model=setting, error=str(exc))

    async def run(self, stop: asyncio.Event, on_ready: Callable[[], None] | None = None) -> None:
        """Work until `stop`; batches read ahead but not started go back to the queue."""
        await self.preload()
        sub = await self.consumer()
        if on_ready is not None:
            on_ready()
        telemetry.INFERENCE_WORKERS.inc()  # dec() below, however the worker ends
        flow = self.flow = Pipeline[Work](self.settings.prefetch, self.settings.post_threads)
        fetcher = asyncio.create_task(self._fetch(sub, stop))
        stopping = asyncio.create_task(stop.wait())
        for waker in (fetcher, stopping):
            waker.add_done_callback(lambda _: self._wake())
        started: set[asyncio.Task[None]] = set()
        graceful = False
        try:
            while True:
                if stop.is_set():
                    for back in flow.stop():
                        await self._answer(back, AGAIN)
                nxt = flow.next_batch()
                if nxt is not None:
                    flow.started(nxt)
                    task = asyncio.create_task(self._process(nxt))
                    started.add(task)
                    task.add_done_callback(started.discard)
                    continue
                if fetcher.done() and not flow.waiting:
                    break
                await self._changed.wait()  # until the pipeline moves
            graceful = True
            await asyncio.gather(*started)  # batches past the model are finished and answered
            if not fetcher.cancelled() and (error := fetcher.exception()) is not None:
                raise error  # fetching died (not a stop): say why
        finally:
            for running in (fetcher, stopping, *started):
                running.cancel()
            await asyncio.gather(fetcher, stopping, *started, return_exceptions=True)
            # On a graceful stop the batches in hand go back at once; on cancellation (a
            # crash, as far as the broker knows) they come back after the ack wait.
            telemetry.INFERENCE_WORKERS.dec()
            for held in list(self._held):
                if graceful:
                    await self._answer(held, AGAIN)
                else:
                    self._let_go(held)
            self._compute.shutdown(wait=False, cancel_futures=True)
            self._post.shutdown(wait=False, cancel_futures=True)
            await sub.close()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self._changed.wait()

    async def _fetch(self, sub: WorkConsumer, stop: asyncio.Event) -> None:
        """Fetch and read batches while the pipeline has room for them, until `stop`."""
        flow, every = self.flow, hold_interval(self.settings.ack_wait_s)

        def done() -> bool:
            return stop.is_set() or flow.stopping

        await self._until(lambda: flow.fetch_room() > 0 or done())
        async for msgs in pull(sub, done, wait=self.bus.until_reconnected):
            for msg in msgs:
                work = Work(msg, asyncio.create_task(hold_in_progress(msg, every)))
                self._held.add(work)
                flow.fetched(work)
                await self._prepare(work)
                flow.prepared(work)
                self._wake()
            await self._until(lambda: flow.fetch_room() > 0 or done())

    async def _prepare(self, work: Work) -> None:
        """Decode the batch, get its model, read its pixels (errors are kept for `_process`)."""
        try:
            work.batch = TileBatch.model_validate_json(work.msg.data)
        except ValidationError as exc:
            work.error = exc
            return
        deliveries = work.msg.num_delivered
        if deliveries > 1:
            self.redelivered += 1
        try:
            repeated = repeated_delivery(work.batch.batch, deliveries, self.settings.max_deliveries)
            if repeated is not None:
                raise repeated
            spec = work.batch.work
            if isinstance(spec, CellWork):
                work.ready = await self.predictors.get(spec.model, spec.model_sha256)
            if isinstance(spec, CellWork | TissueWork):
                t0 = time.perf_counter()
                work.pixels = await self.reader.read(work.batch)
                work.timings["read_s"] = (time.perf_counter() - t0) / len(work.batch.tiles)
        except Exception as exc:
            work.error = exc

    async def _process(self, work: Work) -> None:
        """Compute and publish one batch, then answer it as the core decides.

        The model is free for the next batch as soon as this one's forward is done (or it
        failed): the run loop starts the next one while this one is post-processed.
        """
        error = await self._compute_and_publish(work)
        deliveries = work.msg.num_delivered
        outcome = batch_outcome(error, deliveries, decoded=work.batch is not None)
        if isinstance(outcome, FailAttempt) and work.batch is not None:
            ref = work.batch.ref
            log.warning("attempt_failed", job_id=ref.job_id, reason=outcome.reason)
            try:
                failed = ref.attempt_failed(outcome.reason, retryable=outcome.retryable)
                await self.bus.append(failed)
            except BusError:  # not in the log: the batch comes back to fail again
                outcome = redelivery(deliveries)
        await self._answer(work, outcome, error)

    async def _compute_and_publish(self, work: Work) -> Exception | None:
        """What went wrong with the batch, or None: all its results are in RESULTS."""
        try:
            if work.error is not None:
                raise work.error
            batch = work.batch
            assert batch is not None
            try:
                finish = await self._forward(batch, work)
            finally:
                self._model_free(work)
            for index, payload, timings in await finish():
                # the batch is done: a bus that does not take its results now (an election)
                # is waited for, not counted against the batch by a nak
                await patiently(
                    functools.partial(
                        publish_result,
                        self.bus,
                        batch.results_subject,
                        payload,
                        msg_id=result_msg_id(batch.ref, index),
                        timings={**work.timings, **timings},
                    ),
                    patience=PUBLISH_PATIENCE_S,
                )
        except Exception as exc:
            self._model_free(work)
            return exc
        return None

    def _model_free(self, work: Work) -> None:
        self.flow.forwarded(work)
        self._wake()

    async def _forward(self, batch: TileBatch, work: Work) -> Finish:
        """The part of a batch that needs the model (or, for synthetic work, stands in for it);
        returns what finishes the batch without it."""
        loop = asyncio.get_running_loop()
        spec = batch.work
        if isinstance(spec, SyntheticWork):
            out: list[compute.TileResult] = []
            for index in batch.tiles:
                await asyncio.sleep(spec.seconds_per_tile)
                if synthetic_tile_fails(
                    batch.ref, index, spec.failure_probability, spec.failing_attempts
                ):
                    raise SyntheticTileFailed(
                        f"synthetic tile {index} failed (failure_probability "
                        f"{spec.failure_probability}, failing_attempts {spec.failing_attempts})"
                    )
                payload = encode_instances(index, (0, 0), [])
                out.append((index, payload, {"work_s": spec.seconds_per_tile}))
            return _done(out)
        assert work.pixels is not None and batch.grid is not None
        grid = batch.grid
        if isinstance(spec, TissueWork):
            pixels, threshold = work.pixels, spec.threshold
            return lambda: loop.run_in_executor(
                self._post, compute.tissue, pixels, threshold, grid, batch.tiles
            )
        assert work.ready is not None
        predictor = work.ready.predictor
        size = forward_batch_size(spec.batch_size, self.settings.batch_size, predictor.device.type)
        stats = NormalisationStats(spec.stats_low, spec.stats_high)
        labels, forward_s = await loop.run_in_executor(
            self._compute, compute.forward, predictor, work.pixels, stats, grid.tile_size, size
        )
        work.pixels = None  # the batch's pixels are not needed any more
        return lambda: loop.run_in_executor(
            self._post, compute.post, predictor, labels, grid, batch.tiles, forward_s
        )

    async def _answer(
        self, work: Work, outcome: BatchOutcome, error: Exception | None = None
    ) -> None:
        """Stop holding a batch and answer for it (an answer lost with the connection is
        no loss: the broker delivers the batch again)."""
        self._let_go(work)
        batch = work.batch
        if isinstance(outcome, Ack) and batch is not None:
            self.batches_done += 1
            telemetry.TILES_PROCESSED.labels(job_type=batch.work.kind).inc(len(batch.tiles))
        with contextlib.suppress(Exception):
            match outcome:
                case Ack():
                    await work.msg.ack()
                case Redeliver(delay=delay):
                    if error is not None and batch is not None:
                        log.warning("tile_batch_retry", job_id=batch.ref.job_id, error=str(error))
                    await work.msg.nak(delay=delay)
                case Discard():
                    log.error("undecodable_tile_batch", subject=work.msg.subject, error=str(error))
                    await work.msg.term()
                case FailAttempt():
                    await work.msg.term()

    def _let_go(self, work: Work) -> None:
        """Stop holding a batch (unanswered, it comes back after the ack wait)."""
        work.holder.cancel()
        self._held.discard(work)
        self.flow.finished(work)
        self._wake()

    def close(self) -> None:
        self.reader.close()


Finish = Callable[[], Awaitable[list[compute.TileResult]]]


def _done(results: list[compute.TileResult]) -> Finish:
    async def finish() -> list[compute.TileResult]:
        return results

    return finish


def _torch_threads(threads: int) -> None:
    """Give the forward thread the configured torch thread count (0: torch's default)."""
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
