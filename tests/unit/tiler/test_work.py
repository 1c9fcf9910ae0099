"""The data plane's wire contract (tessera.tiling.work), as the tiler produces it."""

from __future__ import annotations

import uuid

from tessera.tiling.grid import plan_grid
from tessera.tiling.work import (
    CellWork,
    JobRef,
    PlanDetails,
    SyntheticWork,
    TileBatch,
    misrouted,
    results_filter,
    results_subject,
    subject_key,
    tiles_subject,
)

REF = JobRef(tenant_id=uuid.UUID(int=1), workflow_id=uuid.UUID(int=2), job_id="cells.v2", attempt=3)


def test_attempts_have_stable_subject_safe_keys() -> None:
    assert REF.key == JobRef.model_validate(REF.model_dump()).key
    assert "." not in REF.key and len(REF.key) == 24
    assert REF.key != REF.model_copy(update={"attempt": 4}).key
    assert subject_key(tiles_subject("ns", REF)) == REF.key
    assert subject_key(results_subject("ns", REF, 4)) == REF.key
    assert results_subject("ns", REF, 4).startswith(f"ns.results.{REF.partition(4)}.")
    assert results_subject("ns", REF).startswith("ns.results.0.")
    assert results_filter("ns", 2) == "ns.results.2.>"
    assert REF.results_path.endswith("/cells.v2/attempt-3")


def test_partitions_spread_attempts() -> None:
    refs = [REF.model_copy(update={"job_id": f"j{i}"}) for i in range(200)]
    counts = [sum(r.partition(4) == p for r in refs) for p in range(4)]
    assert min(counts) > 25


def test_results_routed_with_another_partition_count_are_found() -> None:
    refs = [REF.model_copy(update={"job_id": f"j{i}"}) for i in range(20)]
    by_two = [results_subject("ns", r, 2) for r in refs]
    assert misrouted(by_two, 2) == []
    moved = [s for s, r in zip(by_two, refs, strict=True) if r.partition(2) != r.partition(3)]
    assert moved and misrouted(by_two, 3) == moved
    assert misrouted([results_subject("ns", r) for r in refs], 1) == []


def test_batches_round_trip_as_json() -> None:
    grid = plan_grid(4000, 3000, slide_mpp=0.25, target_mpp=0.5)
    work = CellWork(
        model="auto", model_sha256="ab" * 32, stats_low=(1, 2, 3), stats_high=(200, 210, 220)
    )
    batch = TileBatch(
        ref=REF, batch=7, tiles=(3, 4), slide="a.svs", grid=grid, results_subject="s", work=work
    )
    assert TileBatch.model_validate_json(batch.model_dump_json()) == batch
    assert len(batch.model_dump_json()) < 1000  # coordinates only, never pixels
    synthetic = batch.model_copy(
        update={"work": SyntheticWork(seconds_per_tile=0.1, failure_probability=0.0)}
    )
    assert TileBatch.model_validate_json(synthetic.model_dump_json()).work.kind == "synthetic"
    # the id names the tiles: batch 0 of a plan with other batch sizes is no repeat of this one
    assert batch.msg_id == batch.model_copy(update={"batch": 8}).msg_id
    assert batch.msg_id != batch.model_copy(update={"tiles": (3, 4, 5, 6)}).msg_id
    other = REF.model_copy(update={"attempt": 2})
    assert batch.msg_id != batch.model_copy(update={"ref": other}).msg_id


def test_plans_fit_in_job_planned() -> None:
    grid = plan_grid(100_000, 80_000, slide_mpp=0.25, target_mpp=0.5)
    plan = PlanDetails(
        kind="cell_segmentation", results=REF.results_path, results_subject="s", grid=grid
    )
    assert PlanDetails.model_validate(plan.event_dict()) == plan
