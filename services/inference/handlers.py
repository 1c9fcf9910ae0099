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
    SyntheticTileFailed,
    failure_of,
    forward_batch_size,
    hold_interval,
    repeated_delivery,
    synthetic_tile_fails,
)
from tessera.inference.settings import InferenceSettings
from tessera.segmentation.normalisation import NormalisationStats
from tessera.stitching.encoding import encode_instances
from tessera.tiling.work import (
    CellWork,
    JobRef,
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
        self._held: set[Work] = set()
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
        ready: asyncio.Queue[Work | None] = asyncio.Queue()
        slots = asyncio.Semaphore(self.settings.prefetch)
        fetcher = asyncio.create_task(self._fetch(sub, ready, slots, stop))
        # Batches started and not finished: the one the model runs on plus up to `post_threads`
        # past the model, being post-processed and published meanwhile.
        finishing: set[asyncio.Task[None]] = set()
        post_slots = asyncio.Semaphore(self.settings.post_threads + 1)
        graceful = False
        try:
            while (work := await ready.get()) is not None:
                slots.release()
                if stop.is_set():
                    await self._release(work, nak=True)
                    continue
                await post_slots.acquire()
                model_free = asyncio.get_running_loop().create_future()
                task = asyncio.create_task(self._process(work, model_free))
                finishing.add(task)
                task.add_done_callback(finishing.discard)
                task.add_done_callback(lambda _: post_slots.release())
                await asyncio.wait([model_free, task], return_when=asyncio.FIRST_COMPLETED)
            graceful = True
            await asyncio.gather(*finishing)  # batches past the model are finished and acked
            await asyncio.wait([fetcher])  # it ends right after handing over the None
            if not fetcher.cancelled() and (error := fetcher.exception()) is not None:
                raise error  # fetching died (not a stop): say why
        finally:
            for task in (fetcher, *finishing):
                task.cancel()
            await asyncio.gather(fetcher, *finishing, return_exceptions=True)
            # On a graceful stop the batches in hand go back at once; on cancellation (a
            # crash, as far as the broker knows) they come back after the ack wait.
            telemetry.INFERENCE_WORKERS.dec()
            for work in list(self._held):
                await self._release(work, nak=graceful)
            self._compute.shutdown(wait=False, cancel_futures=True)
            self._post.shutdown(wait=False, cancel_futures=True)
            await sub.close()

    async def _fetch(
        self,
        sub: WorkConsumer,
        ready: asyncio.Queue[Work | None],
        slots: asyncio.Semaphore,
        stop: asyncio.Event,
    ) -> None:
        every = hold_interval(self.settings.ack_wait_s)
        try:
            await slots.acquire()  # a slot for the batch the next fetch brings
            async for msgs in pull(sub, stop.is_set):
                for msg in msgs:
                    work = Work(msg, asyncio.create_task(hold_in_progress(msg, every)))
                    self._held.add(work)
                    await self._prepare(work)
                    ready.put_nowait(work)
                await slots.acquire()
        finally:
            ready.put_nowait(None)

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

    async def _process(self, work: Work, model_free: asyncio.Future[None] | None = None) -> None:
        """Compute, publish and ack one batch (or fail its attempt, or send it back).

        `model_free` is set as soon as the batch no longer needs the model (its forward is done,
        or it failed): the run loop then starts the next batch while this one is post-processed.
        """

        def free_model() -> None:
            if model_free is not None and not model_free.done():
                model_free.set_result(None)

        batch = work.batch
        if batch is None:
            free_model()
            log.error("undecodable_tile_batch", subject=work.msg.subject, error=str(work.error))
            await self._release(work, term=True)
            return
        try:
            if work.error is not None:
                raise work.error
            try:
                finish = await self._forward(batch, work)
            finally:
                free_model()
            results = await finish()
            for index, payload, timings in results:
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
            await self._release(work, ack=True)
            self.batches_done += 1
            telemetry.TILES_PROCESSED.labels(job_type=batch.work.kind).inc(len(batch.tiles))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failure = failure_of(exc)
            if failure is not None:
                reason, retryable = failure
                log.warning("attempt_failed", job_id=batch.ref.job_id, reason=reason)
                try:
                    await self._fail(batch.ref, reason, retryable)
                except BusError:
                    failure = None
            if failure is None:
                log.warning("tile_batch_retry", job_id=batch.ref.job_id, error=str(exc))
                await self._release(work, nak=True)
                return
            await self._release(work, term=True)

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

    async def _fail(self, ref: JobRef, reason: str, retryable: bool) -> None:
        await self.bus.append(ref.attempt_failed(reason, retryable=retryable))

    async def _release(
        self, work: Work, *, ack: bool = False, nak: bool = False, term: bool = False
    ) -> None:
        """Stop holding a batch and answer for it (or not: the broker redelivers it)."""
        work.holder.cancel()
        self._held.discard(work)
        with contextlib.suppress(Exception):  # a closed connection: the broker redelivers
            if ack:
                await work.msg.ack()
            elif term:
                await work.msg.term()
            elif nak:
                await work.msg.nak()

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
