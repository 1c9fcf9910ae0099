"""An inference worker runs the model on its next batch while the last one is post-processed."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from tessera.events import AnyEvent, JobSucceeded
from tessera.inference.adapters import compute
from tessera.workflows import JobSpec
from tests.integration.dataplane.conftest import CMU, DataPlane, of_type

pytestmark = pytest.mark.integration


async def test_the_model_moves_on_while_a_batch_is_post_processed(
    dataplane: DataPlane, blobs_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forwards: list[int] = []
    model_moved_on = threading.Event()
    real_forward, real_post = compute.forward, compute.post

    def forward(*args: Any) -> Any:
        forwards.append(len(args[1]))
        if len(forwards) >= 2:
            model_moved_on.set()
        return real_forward(*args)

    def post(*args: Any) -> Any:
        # The first batch is not finished until the model has started on the second: a worker
        # that post-processed before taking its next batch would wait here and fail the job.
        if not model_moved_on.wait(timeout=20):
            raise RuntimeError("the model waited for the last batch's post-processing")
        return real_post(*args)

    monkeypatch.setattr(compute, "forward", forward)
    monkeypatch.setattr(compute, "post", post)

    events = await _cells_job_in_small_batches(dataplane, blobs_model, post_threads=1)

    assert not of_type(events, "JobAttemptFailed")
    [done] = of_type(events, "JobSucceeded")
    assert isinstance(done, JobSucceeded)
    assert len(forwards) >= 3 and sum(forwards) == done.summary["tiles_total"]
    assert done.summary["cell_count"] > 100


async def test_without_post_threads_each_batch_is_finished_before_the_next(
    dataplane: DataPlane, blobs_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: list[str] = []
    real_forward, real_post = compute.forward, compute.post

    def forward(*args: Any) -> Any:
        steps.append("forward")
        return real_forward(*args)

    def post(*args: Any) -> Any:
        out = real_post(*args)
        steps.append("post")
        return out

    monkeypatch.setattr(compute, "forward", forward)
    monkeypatch.setattr(compute, "post", post)

    events = await _cells_job_in_small_batches(dataplane, blobs_model, post_threads=0)

    assert of_type(events, "JobSucceeded")
    assert len(steps) >= 6 and steps == ["forward", "post"] * (len(steps) // 2)


async def _cells_job_in_small_batches(
    dataplane: DataPlane, model: Path, post_threads: int
) -> list[AnyEvent]:
    await dataplane.merger()
    await dataplane.inference(post_threads=post_threads)
    await dataplane.tiler(batch_tiles=2)  # several batches for one worker
    job = JobSpec(
        id="cells",
        type="cell_segmentation",
        slide=CMU,
        params={"model": str(model), "tile_size": 512, "halo": 64},
    )
    tenant, workflow = await dataplane.submit(job)
    return await dataplane.finished(tenant, workflow)
