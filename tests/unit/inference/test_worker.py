"""The inference worker's shell alone on the memory bus: synthetic batches in TILES, its
results read back from RESULTS (no tiler, no merger, no model)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tessera.bus import MemoryBus, WorkQueue
from tessera.inference.handlers import InferenceWorker
from tessera.inference.settings import InferenceSettings
from tessera.stitching.encoding import decode
from tessera.tiling.work import JobRef, SyntheticWork, TileBatch, results_subject, tiles_subject
from tests.unit.gateway.ratelimit_contract import FakeClock

NS = "tworker"
REF = JobRef(tenant_id=uuid.uuid4(), workflow_id=uuid.uuid4(), job_id="load", attempt=1)


@pytest.fixture
async def bus() -> MemoryBus:
    bus = MemoryBus(NS, clock=FakeClock())
    await bus.ensure_streams()
    return bus


async def queue(bus: MemoryBus, batch: int, tiles: tuple[int, ...]) -> None:
    work = SyntheticWork(seconds_per_tile=0.0, failure_probability=0.0)
    msg = TileBatch(
        ref=REF, batch=batch, tiles=tiles, results_subject=results_subject(NS, REF), work=work
    )
    subject = tiles_subject(NS, REF)
    await bus.publish_work(subject, msg.model_dump_json().encode(), msg_id=f"b{batch}")


async def results(bus: MemoryBus, count: int) -> list[int]:
    consumer = await bus.work_consumer(
        WorkQueue(bus.names.results_stream, "reader", bus.names.results())
    )
    tiles: list[int] = []
    while len(tiles) < count:
        msgs = await consumer.fetch(count, 5)
        assert msgs, f"stuck after tiles {tiles}"
        tiles += [decode(m.data).tile_index for m in msgs]
    assert await consumer.fetch(1, 0.05) == []  # nothing twice
    return tiles


@pytest.fixture
async def running(bus: MemoryBus, tmp_path: Path) -> AsyncIterator[InferenceWorker]:
    settings = InferenceSettings(
        namespace=NS, results_root=tmp_path, log_json=False, post_threads=0
    )
    worker = InferenceWorker(bus, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    yield worker
    stop.set()
    await asyncio.wait_for(task, 10)
    worker.close()


async def test_batches_are_processed_in_queue_order_and_a_poison_one_is_discarded(
    bus: MemoryBus, running: InferenceWorker
) -> None:
    await queue(bus, 0, (0, 1))
    await bus.publish_work(tiles_subject(NS, REF), b"not a batch", msg_id="poison")
    await queue(bus, 1, (2, 3))
    await queue(bus, 2, (4,))

    assert await results(bus, 5) == [0, 1, 2, 3, 4]
    assert running.batches_done == 3
    assert await bus.in_flight(bus.names.tiles_stream, bus.names.tiles()) == {}  # poison termed
    assert await bus.last_sequence() == 0  # and no attempt failed for it


async def test_a_worker_that_dies_mid_batch_leaves_it_to_the_next_which_sends_each_tile_once(
    bus: MemoryBus, tmp_path: Path
) -> None:
    await queue(bus, 0, (0, 1, 2))
    settings = InferenceSettings(namespace=NS, results_root=tmp_path, log_json=False)
    doomed = InferenceWorker(bus, settings)
    publish, published = bus.publish_work, asyncio.Event()

    async def die_after_the_first_result(subject: str, payload: bytes, **kw: object) -> int:
        if published.is_set():
            await asyncio.sleep(3600)  # killed here, mid-batch
        published.set()
        return await publish(subject, payload, **kw)  # type: ignore[arg-type]

    bus.publish_work = die_after_the_first_result  # type: ignore[method-assign]
    task = asyncio.create_task(doomed.run(asyncio.Event()))
    await asyncio.wait_for(published.wait(), 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    doomed.close()
    bus.publish_work = publish  # type: ignore[method-assign]
    bus.clock.advance(settings.ack_wait_s + 1)  # type: ignore[attr-defined]

    survivor = InferenceWorker(bus, settings)
    stop = asyncio.Event()
    running = asyncio.create_task(survivor.run(stop))
    try:
        assert sorted(await results(bus, 3)) == [0, 1, 2]  # tile 0 again: dropped by its id
        assert survivor.redelivered == 1
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
        survivor.close()
