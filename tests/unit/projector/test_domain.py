"""The projector's pure parts: the job timings it observes for the metrics."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tessera.events import JobCancelled, JobProgressed, JobSkipped, JobStarted, JobSucceeded
from tessera.progress import Sample, rate
from tessera.projector.domain import JobTiming, RateWindows, job_timing

T0 = datetime(2030, 1, 1, tzinfo=UTC)
IDS = {"tenant_id": uuid.UUID(int=1), "workflow_id": uuid.UUID(int=2), "job_id": "cells"}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_first_start_completes_the_queued_time_and_the_end_the_run_time() -> None:
    first = JobStarted(**IDS, occurred_at=at(12))
    assert job_timing(first, "cell_segmentation", T0, at(12)) == JobTiming(
        "queued", "cell_segmentation", 12.0
    )
    done = JobSucceeded(**IDS, occurred_at=at(72), attempt=2)
    assert job_timing(done, "cell_segmentation", T0, at(12)) == JobTiming(
        "ran", "cell_segmentation", 60.0
    )


def test_retries_progress_and_jobs_that_never_started_have_no_timing() -> None:
    retry = JobStarted(**IDS, occurred_at=at(40), attempt=2)
    assert job_timing(retry, "synthetic", T0, at(12)) is None  # queued once, at its first start
    progress = JobProgressed(**IDS, occurred_at=at(20), tiles_done=1, tiles_total=2)
    assert job_timing(progress, "synthetic", T0, at(12)) is None
    assert (
        job_timing(JobSkipped(**IDS, occurred_at=at(5), reason="x"), "synthetic", T0, None) is None
    )
    cancelled = JobCancelled(**IDS, occurred_at=at(5))
    assert job_timing(cancelled, "synthetic", T0, None) is None
    assert job_timing(cancelled, "synthetic", T0, at(2)) == JobTiming("ran", "synthetic", 3.0)


def test_rate_windows_keep_what_the_rate_needs_and_forget_an_ended_job() -> None:
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    samples = [Sample(t0 + timedelta(seconds=s), s) for s in (0, 10, 20, 40, 55, 70)]
    windows = RateWindows()
    windows.put("w", "a", 1, samples)
    # from the last sample at or before 70 - 30 s on: what `rate` measures from
    assert windows.get("w", "a", 1) == samples[3:]
    assert rate(windows.get("w", "a", 1) or [], samples[-1].at) == rate(samples, samples[-1].at)
    windows.put("w", "b", 1, samples[:1])
    windows.forget("w", "a")
    assert windows.get("w", "a", 1) is None and windows.get("w", "b", 1) == samples[:1]
