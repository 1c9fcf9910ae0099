"""Crashes and restarts mid-job: a dead inference worker's batch comes back, a restarted merger
resumes, a tiler and a merger stopped cleanly resume from their snapshots, a merger killed just
before JobSucceeded is replaced by one that finishes at once, a lost tile ends in a retry.

Each test runs the same cell job twice, once disturbed and once not, and compares the cell
tables: a crash may cost time, never a cell or a duplicate. Recovery times are printed (`-s`)
and asserted loosely.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tessera.branch_sequencer.domain import SequencerState
from tessera.branch_sequencer.handlers import Sequencer
from tessera.events import Event, WorkflowAdmitted
from tessera.merger.handlers import Merger
from tessera.merger.settings import MergerSettings
from tessera.tiler.handlers import Tiler
from tessera.tiler.settings import TilerSettings
from tessera.workflows import JobSpec
from tests.conftest import running
from tests.integration.dataplane.conftest import CMU, DataPlane, Service, of_type
from tests.polling import eventually

pytestmark = pytest.mark.integration


def cells_job(model: Path, retries: int = 0) -> JobSpec:
    return JobSpec(
        id="cells",
        type="cell_segmentation",
        slide=CMU,
        params={"model": str(model), "tile_size": 256, "halo": 32, "min_tissue": 0.5},
        retries=retries,
    )


def cell_table(plane: DataPlane, summary: dict[str, Any]) -> dict[str, list[Any]]:
    folder = plane.base["results_root"] / summary["results"]
    table = pq.read_table(folder / "cells.parquet").sort_by("id").to_pydict()
    return {k: table[k] for k in ("id", "tile_index", "centroid_x", "centroid_y", "area_px")}


async def run_to_success(plane: DataPlane, job: JobSpec) -> dict[str, Any]:
    tenant, workflow = await plane.submit(job)
    events = await plane.finished(tenant, workflow)
    [done] = of_type(events, "JobSucceeded")
    return done.summary


async def until(predicate: Any, timeout: float = 30.0) -> None:
    await eventually(predicate, timeout=timeout, what=predicate.__name__)


async def one_worker(
    plane: DataPlane, model: Path, *, window: int, batch_tiles: int
) -> tuple[Service, uuid.UUID, uuid.UUID]:
    """A merger, a tiler and one inference worker that takes a batch at a time; a cell job."""
    await plane.merger()
    await plane.tiler(window=window, batch_tiles=batch_tiles)
    worker = await plane.inference(prefetch=1)
    tenant, workflow = await plane.submit(cells_job(model))
    return worker, tenant, workflow


async def test_a_killed_inference_worker_loses_nothing(
    dataplane: DataPlane, blobs_model: Path
) -> None:
    doomed, tenant, workflow = await one_worker(dataplane, blobs_model, window=2, batch_tiles=2)
    js, names = dataplane.bus.js, dataplane.bus.names

    async def holds_a_batch() -> bool:
        info = await js.consumer_info(names.tiles_stream, "inference")
        return info.num_ack_pending > 0

    await until(holds_a_batch)
    await doomed.kill()  # mid-batch: nothing acked, nothing sent back
    await dataplane.inference()
    events = await dataplane.finished(tenant, workflow)
    [done] = of_type(events, "JobSucceeded")
    info = await js.consumer_info(names.tiles_stream, "inference")
    # the dead worker's batch came back: more deliveries than batches ...
    assert info.delivered.consumer_seq > info.delivered.stream_seq
    assert done.summary["tiles_done"] == done.summary["tiles_total"]  # ... and was done

    reference = await run_to_success(dataplane, cells_job(blobs_model))
    disturbed, undisturbed = cell_table(dataplane, done.summary), cell_table(dataplane, reference)
    assert done.summary["cell_count"] == reference["cell_count"] > 100
    assert disturbed == undisturbed  # same ids, same cells


async def test_a_restarted_merger_resumes_without_writing_twice(
    dataplane: DataPlane, blobs_model: Path
) -> None:
    await dataplane.tiler()
    await dataplane.inference()
    js, names = dataplane.bus.js, dataplane.bus.names
    tenant, workflow = await dataplane.submit(cells_job(blobs_model))
    planned = of_type(
        await dataplane.events(
            tenant, workflow, until=lambda seen: bool(of_type(seen, "JobPlanned"))
        ),
        "JobPlanned",
    )[0]

    async def all_results_queued() -> bool:
        info = await js.stream_info(names.results_stream)
        return info.state.messages >= planned.tiles_total

    await until(all_results_queued)
    first = await dataplane.merger(fetch_batch=1, progress_interval_s=0.0, ack_wait_s=1.0)

    def some_done(seen: list) -> bool:
        return any(0 < p.tiles_done < planned.tiles_total for p in of_type(seen, "JobProgressed"))

    await dataplane.events(tenant, workflow, until=some_done)
    await first.kill()
    await asyncio.sleep(0.3)  # a real crash leaves no writer thread behind: let ours finish
    events = await dataplane.events(
        tenant, workflow, until=lambda seen: bool(of_type(seen, "JobProgressed"))
    )
    assert not of_type(events, "JobSucceeded")  # it was killed mid-job
    await dataplane.merger()

    events = await dataplane.finished(tenant, workflow)
    [done] = of_type(events, "JobSucceeded")
    folder = dataplane.base["results_root"] / done.summary["results"]
    parts = sorted((folder / "cells.parts").glob("part-*.parquet"))
    assert len(parts) >= 2  # written by both mergers ...
    assert sum(pq.read_table(p).num_rows for p in parts) == done.summary["cell_count"]  # ... once

    reference = await run_to_success(dataplane, cells_job(blobs_model))
    assert cell_table(dataplane, done.summary) == cell_table(dataplane, reference)
    assert uuid.UUID(str(done.workflow_id)) == workflow


async def test_a_tiler_and_a_merger_stopped_mid_job_resume_from_their_snapshots(
    dataplane: DataPlane, blobs_model: Path
) -> None:
    await dataplane.inference()
    bus, base = dataplane.bus, dataplane.base

    def services() -> tuple[Tiler, Merger]:
        return (
            Tiler(bus, TilerSettings(**base, window=1, batch_tiles=2)),
            Merger(bus, MergerSettings(**base, fetch_batch=1, progress_interval_s=0.0)),
        )

    tenant, workflow = await dataplane.submit(cells_job(blobs_model))
    tiler, merger = services()
    async with running(tiler.run), running(merger.run):
        events = await dataplane.events(
            tenant, workflow, until=lambda seen: bool(of_type(seen, "JobProgressed"))
        )
    assert not of_type(events, "JobSucceeded")  # stopped mid-job, each saving its snapshot
    saved = (tiler.fold.snapshots.saved_seq, merger.fold.snapshots.saved_seq)
    assert all(seq > 0 for seq in saved)

    tiler, merger = services()
    async with running(tiler.run), running(merger.run):
        events = await dataplane.finished(tenant, workflow)
    assert (tiler.fold.snapshots.loaded_seq, merger.fold.snapshots.loaded_seq) == saved
    [done] = of_type(events, "JobSucceeded")
    await dataplane.merger()
    await dataplane.tiler()
    reference = await run_to_success(dataplane, cells_job(blobs_model))
    assert cell_table(dataplane, done.summary) == cell_table(dataplane, reference)


def published(plane: DataPlane, last_seq: int) -> Callable[[], Awaitable[bool]]:
    """A check: TILES has received its batch number `last_seq` (the tiler published them)."""

    async def check() -> bool:
        info = await plane.bus.js.stream_info(plane.bus.names.tiles_stream)
        return bool(info.state.last_seq >= last_seq)

    return check


def job_ended(events: list[Any]) -> bool:
    """The job ended for good (an attempt failure may be retried)."""
    return any(e.type in ("JobSucceeded", "JobFailed", "JobCancelled") for e in events)


async def planned_and_queued(plane: DataPlane, tenant: uuid.UUID, workflow: uuid.UUID) -> Any:
    """The attempt's JobPlanned, once every one of its results waits in RESULTS."""
    js, names = plane.bus.js, plane.bus.names
    seen = await plane.events(
        tenant, workflow, until=lambda seen: bool(of_type(seen, "JobPlanned"))
    )
    planned = of_type(seen, "JobPlanned")[-1]

    async def all_results_queued() -> bool:
        info = await js.stream_info(names.results_stream)
        return info.state.messages >= planned.tiles_total

    await until(all_results_queued, timeout=120)
    return planned


async def test_a_merger_killed_before_job_succeeded_is_finished_by_the_next_at_once(
    dataplane: DataPlane, blobs_model: Path
) -> None:
    await dataplane.tiler()
    await dataplane.inference()
    tenant, workflow = await dataplane.submit(cells_job(blobs_model))
    planned = await planned_and_queued(dataplane, tenant, workflow)
    doomed = await dataplane.merger(fetch_batch=planned.tiles_total)  # all tiles in one go
    append = doomed.rt.bus.append
    last_progress = asyncio.Event()

    async def dies_before_success(event: Event, **kwargs: Any) -> int:
        if event.type == "JobSucceeded":
            last_progress.set()
            await asyncio.Event().wait()  # killed here: results merged, N/N announced, no success
        return await append(event, **kwargs)

    doomed.rt.bus.append = dies_before_success  # type: ignore[method-assign]
    await asyncio.wait_for(last_progress.wait(), 60)
    await doomed.kill()
    began = time.perf_counter()
    await dataplane.merger()  # default ack wait (30 s): the results would come back only then
    events = await dataplane.finished(tenant, workflow, timeout=20)
    recovery = time.perf_counter() - began
    print(f"merger killed before JobSucceeded: succeeded {recovery:.2f} s after the restart")
    assert recovery < 10  # not after the results' ack wait
    [done] = of_type(events, "JobSucceeded")
    final = [p for p in of_type(events, "JobProgressed") if p.tiles_done == planned.tiles_total]
    assert len(final) == 1  # announced by both mergers, appended once
    reference = await run_to_success(dataplane, cells_job(blobs_model))
    assert cell_table(dataplane, done.summary) == cell_table(dataplane, reference)


async def test_a_lost_tile_stalls_its_attempt_which_is_failed_and_retried(
    dataplane: DataPlane, blobs_model: Path
) -> None:
    """A result that never reaches the merger (dropped because its plan never came, or lost):
    no progress, so the sequencer fails the attempt at its stall deadline and retries it."""
    js, names = dataplane.bus.js, dataplane.bus.names
    stall = timedelta(seconds=8)  # well above a batch's time on two busy cores
    state = SequencerState(max_workers=2, retry_base=timedelta(seconds=0.2), stall_after=stall)
    sequencer = Sequencer(dataplane.bus, state)
    await dataplane.tiler()
    await dataplane.inference()
    tenant, workflow = await dataplane.submit(cells_job(blobs_model, retries=2), start=False)
    async with running(sequencer.run):
        await dataplane.bus.append(WorkflowAdmitted(tenant_id=tenant, workflow_id=workflow))

        async def a_result_queued() -> bool:
            info = await js.stream_info(names.results_stream)
            return bool(info.state.messages)

        await until(a_result_queued, timeout=120)
        info = await js.stream_info(names.results_stream)
        await js.delete_msg(names.results_stream, info.state.first_seq)  # one tile lost
        await dataplane.merger()
        began = time.perf_counter()
        events = await dataplane.events(tenant, workflow, until=job_ended, timeout=120)
        print(f"lost tile: job ended {time.perf_counter() - began:.2f} s after the merger began")
    stalled = of_type(events, "JobAttemptFailed")[0]
    assert stalled.attempt == 1 and stalled.reason == "stalled: no progress for 8 s"
    [done] = of_type(events, "JobSucceeded")
    assert done.attempt > 1 and done.summary["tiles_done"] == done.summary["tiles_total"]


async def test_a_killed_tiler_is_replaced_mid_job_and_at_its_end_without_a_lost_tile(
    dataplane: DataPlane, blobs_model: Path
) -> None:
    await dataplane.merger()
    await dataplane.inference()
    js, names = dataplane.bus.js, dataplane.bus.names
    tables = []
    for moment in ("mid-job", "end"):
        # mid-job: one small batch in TILES at a time, so most are not published yet
        settings = {"window": 1, "batch_tiles": 2} if moment == "mid-job" else {}
        doomed = await dataplane.tiler(**settings)
        published_before = (await js.stream_info(names.tiles_stream)).state.last_seq
        tenant, workflow = await dataplane.submit(cells_job(blobs_model))
        if moment == "mid-job":
            await dataplane.events(
                tenant, workflow, until=lambda seen: bool(of_type(seen, "JobProgressed"))
            )
        else:  # every batch published: the tiler's part is over
            seen = await dataplane.events(
                tenant, workflow, until=lambda seen: bool(of_type(seen, "JobPlanned"))
            )
            planned = of_type(seen, "JobPlanned")[0]

            await until(published(dataplane, published_before + planned.grid["batches"]))
        await doomed.kill()
        began = time.perf_counter()
        await dataplane.tiler(**settings)
        events = await dataplane.finished(tenant, workflow)
        print(f"tiler killed {moment}: job done {time.perf_counter() - began:.2f} s after restart")
        [done] = of_type(events, "JobSucceeded")
        assert done.summary["tiles_done"] == done.summary["tiles_total"]
        tables.append(cell_table(dataplane, done.summary))
        await dataplane.services[-1].stop()
    assert planned.tiles_total > 2
    info = await js.stream_info(names.tiles_stream)
    assert info.state.messages == 0  # nothing published twice is left behind
    await dataplane.tiler()
    reference = await run_to_success(dataplane, cells_job(blobs_model))
    assert tables[0] == tables[1] == cell_table(dataplane, reference)


async def test_an_inference_worker_killed_on_the_last_batch_is_replaced(
    dataplane: DataPlane, blobs_model: Path
) -> None:
    doomed, tenant, workflow = await one_worker(dataplane, blobs_model, window=1, batch_tiles=4)
    js, names = dataplane.bus.js, dataplane.bus.names
    seen = await dataplane.events(
        tenant, workflow, until=lambda seen: bool(of_type(seen, "JobPlanned"))
    )
    planned = of_type(seen, "JobPlanned")[0]
    total, all_published = planned.tiles_total, published(dataplane, planned.grid["batches"])

    async def holds_the_last_batch() -> bool:
        tiles = await js.consumer_info(names.tiles_stream, "inference")
        last = await all_published() and tiles.num_pending == 0
        return last and tiles.num_ack_pending > 0

    await until(holds_the_last_batch, timeout=120)
    await doomed.kill()
    began = time.perf_counter()
    await dataplane.inference()
    events = await dataplane.finished(tenant, workflow)
    recovery = time.perf_counter() - began
    print(f"inference killed on the last batch: job done {recovery:.2f} s after the restart")
    assert recovery < 15  # the batch comes back after the 2 s ack wait
    [done] = of_type(events, "JobSucceeded")
    assert done.summary["tiles_done"] == total
    reference = await run_to_success(dataplane, cells_job(blobs_model))
    assert cell_table(dataplane, done.summary) == cell_table(dataplane, reference)
