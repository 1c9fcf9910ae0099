"""Synthetic jobs through tiler → inference → merger: plan, progress, success, failed attempts."""

from __future__ import annotations

import asyncio
import json

import pytest

from tessera.events import JobCancelled, WorkflowFinished
from tessera.inference.domain import synthetic_tile_fails
from tessera.tiling.work import JobRef
from tessera.workflows import JobSpec, WorkflowState
from tests.integration.dataplane.conftest import DataPlane, of_type

pytestmark = pytest.mark.integration


async def test_synthetic_job_is_planned_progresses_and_succeeds(dataplane: DataPlane) -> None:
    await dataplane.all(inference=2)
    job = JobSpec(id="load", type="synthetic", params={"tiles": 40, "seconds_per_tile": 0.02})
    tenant, workflow = await dataplane.submit(job)

    events = await dataplane.finished(tenant, workflow)

    [planned] = of_type(events, "JobPlanned")
    assert planned.tiles_total == 40 and planned.attempt == 1
    assert planned.grid["kind"] == "synthetic"
    progress = of_type(events, "JobProgressed")
    assert progress and progress[-1].tiles_done == progress[-1].tiles_total == 40
    assert [p.tiles_done for p in progress] == sorted(p.tiles_done for p in progress)
    assert len(progress) <= 6  # throttled: 40 tiles in ~0.5 s give a couple, not 40
    [succeeded] = of_type(events, "JobSucceeded")
    assert succeeded.summary["tiles_done"] == succeeded.summary["tiles_total"] == 40
    assert succeeded.summary["timings"]["work_s"] == pytest.approx(40 * 0.02)
    folder = dataplane.base["results_root"] / succeeded.summary["results"]
    assert folder.name == "attempt-1"
    assert json.loads((folder / "summary.json").read_text())["tiles_done"] == 40
    assert not of_type(events, "JobAttemptFailed")


async def test_failed_attempt_is_reported_and_a_retry_starts_clean(dataplane: DataPlane) -> None:
    await dataplane.all(inference=1)
    job = JobSpec(
        id="flaky",
        type="synthetic",
        params={"tiles": 12, "seconds_per_tile": 0.0, "failure_probability": 0.15},
    )
    tenant, workflow = await dataplane.submit(job, start=False)

    def fails(attempt: int) -> bool:
        ref = JobRef(tenant_id=tenant, workflow_id=workflow, job_id="flaky", attempt=attempt)
        return any(synthetic_tile_fails(ref, t, 0.15) for t in range(12))

    failing = next(a for a in range(1, 50) if fails(a))
    passing = next(a for a in range(failing + 1, 80) if not fails(a))
    await dataplane.start_job(tenant, workflow, "flaky", attempt=failing)
    events = await dataplane.finished(tenant, workflow)
    [failed] = of_type(events, "JobAttemptFailed")
    assert failed.attempt == failing and failed.retryable
    assert "synthetic tile" in failed.reason

    # the scheduler's retry: a later attempt, whose draws do not fail
    await dataplane.start_job(tenant, workflow, "flaky", attempt=passing)
    events = await dataplane.events(
        tenant, workflow, until=lambda seen: bool(of_type(seen, "JobSucceeded"))
    )
    [succeeded] = of_type(events, "JobSucceeded")
    assert succeeded.attempt == passing
    assert succeeded.summary["tiles_done"] == 12
    assert succeeded.summary["results"].endswith(f"attempt-{passing}")
    progress = [p for p in of_type(events, "JobProgressed") if p.attempt == passing]
    assert progress[-1].tiles_done == 12
    assert len(of_type(events, "JobAttemptFailed")) == 1


async def test_running_jobs_share_the_inference_pool(dataplane: DataPlane) -> None:
    """A small job started while a big one runs is not queued behind all of the big one's tiles."""
    await dataplane.merger(progress_interval_s=0.0)
    await dataplane.inference()
    await dataplane.tiler(window=2, batch_tiles=2)
    big = JobSpec(id="big", type="synthetic", params={"tiles": 120, "seconds_per_tile": 0.01})
    small = JobSpec(
        id="small", type="synthetic", branch="b", params={"tiles": 10, "seconds_per_tile": 0.01}
    )
    tenant, workflow = await dataplane.submit(big, small, start=False)
    await dataplane.start_job(tenant, workflow, "big")
    await dataplane.events(
        tenant, workflow, until=lambda seen: bool(of_type(seen, "JobProgressed"))
    )
    await dataplane.start_job(tenant, workflow, "small")

    events = await dataplane.finished(tenant, workflow, jobs=2)

    order = [e.job_id for e in of_type(events, "JobSucceeded")]
    assert order == ["small", "big"]  # with one FIFO queue (window >= 60) big finishes first
    when_small_done = events.index(of_type(events, "JobSucceeded")[0])
    big_progress = [
        p.tiles_done
        for p in of_type(events[:when_small_done], "JobProgressed")
        if p.job_id == "big"
    ]
    assert max(big_progress) <= 60


async def test_a_cancelled_running_attempt_stops_and_publishes_no_result(
    dataplane: DataPlane,
) -> None:
    await dataplane.all(inference=1)
    job = JobSpec(id="long", type="synthetic", params={"tiles": 400, "seconds_per_tile": 0.02})
    tenant, workflow = await dataplane.submit(job)
    await dataplane.events(
        tenant, workflow, until=lambda events: bool(of_type(events, "JobProgressed"))
    )
    await dataplane.bus.append(JobCancelled(tenant_id=tenant, workflow_id=workflow, job_id="long"))
    await asyncio.sleep(2.0)  # 400 tiles take 8 s: it would still be running, had nobody listened
    events = []  # everything the log holds for the workflow by now
    async with dataplane.bus.feed(subject=f"{dataplane.bus.names.ns}.evt.{tenant}.>") as feed:
        while (env := await feed.get(timeout=1.0)) is not None:
            events.append(env.event)
    cancelled = next(i for i, e in enumerate(events) if e.type == "JobCancelled")
    at = events[cancelled].occurred_at
    # the merger drops the attempt's results at once (a batch in flight may still be counted)
    late = [e.type for e in events[cancelled + 1 :] if (e.occurred_at - at).total_seconds() > 0.5]
    assert late == []
    progressed = [e.tiles_done for e in of_type(events, "JobProgressed")]
    assert progressed and max(progressed) < 400


async def test_results_of_a_cancelled_workflow_still_in_flight_are_dropped_at_once(
    dataplane: DataPlane,
) -> None:
    await dataplane.all(inference=1)
    js, names = dataplane.bus.js, dataplane.bus.names
    job = JobSpec(id="long", type="synthetic", params={"tiles": 400, "seconds_per_tile": 0.02})
    tenant, workflow = await dataplane.submit(job)
    await dataplane.events(
        tenant, workflow, until=lambda events: bool(of_type(events, "JobProgressed"))
    )
    # what the sequencer appends for a cancelled workflow: the job, then the workflow ends
    await dataplane.bus.append(JobCancelled(tenant_id=tenant, workflow_id=workflow, job_id="long"))
    await dataplane.bus.append(
        WorkflowFinished(tenant_id=tenant, workflow_id=workflow, state=WorkflowState.CANCELLED)
    )
    tiles = await js.consumer_info(names.tiles_stream, "inference")
    assert tiles.num_pending + tiles.num_ack_pending > 0  # batches in flight: results will come
    await asyncio.sleep(2.0)  # they are computed within a second ...
    info = await js.stream_info(names.results_stream)
    assert info.state.messages == 0  # ... and acked as they come, not redelivered for 10 s
