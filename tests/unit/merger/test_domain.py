"""The merger's pure decisions: which attempt owns a result, throttling, timings."""

from __future__ import annotations

import uuid

from tessera.errors import BusError
from tessera.events import (
    JobAttemptFailed,
    JobCancelled,
    JobPlanned,
    JobProgressed,
    JobStarted,
    JobSucceeded,
    WorkflowFinished,
)
from tessera.merger.domain import (
    ACK,
    LATE_RESULTS,
    RETRY_S,
    TERM,
    Answer,
    Apply,
    Drop,
    Ended,
    MergerState,
    Throttle,
    Wait,
    add_timings,
    error_answer,
    evolve,
    is_complete,
    timing_summary,
    verdict,
    waiting_answer,
    with_finalise,
)
from tessera.stitching.encoding import EncodingError
from tessera.tiling.work import JobRef, PlanDetails
from tessera.workflows import WorkflowState

T, W = uuid.uuid4(), uuid.uuid4()


def ref(attempt: int = 1) -> JobRef:
    return JobRef(tenant_id=T, workflow_id=W, job_id="cells", attempt=attempt)


def started(attempt: int = 1) -> JobStarted:
    return JobStarted(tenant_id=T, workflow_id=W, job_id="cells", attempt=attempt)


def planned(attempt: int = 1) -> JobPlanned:
    plan = PlanDetails(kind="synthetic", results=ref(attempt).results_path, results_subject="s")
    return JobPlanned(
        tenant_id=T,
        workflow_id=W,
        job_id="cells",
        attempt=attempt,
        tiles_total=5,
        grid=plan.event_dict(),
    )


def test_results_wait_for_the_plan_then_apply() -> None:
    state = MergerState()
    assert verdict(state, ref().key) == Wait()
    evolve(state, started())
    assert verdict(state, ref().key) == Wait()
    evolve(state, planned())
    match verdict(state, ref().key):
        case Apply(attempt=attempt):
            assert attempt.ref == ref() and attempt.tiles_total == 5
            assert attempt.plan is not None and attempt.plan.kind == "synthetic"
        case other:
            raise AssertionError(other)


def test_a_newer_attempt_supersedes_and_ended_attempts_drop_their_results() -> None:
    state = MergerState()
    evolve(state, started(1))
    evolve(state, planned(1))
    ended = evolve(state, started(2))
    assert isinstance(ended, Ended) and ended.why == "superseded"
    assert verdict(state, ref(1).key) == Drop("attempt ended")
    assert evolve(state, started(1)) is None  # a stale start changes nothing
    evolve(state, planned(2))
    assert isinstance(verdict(state, ref(2).key), Apply)
    failed = JobAttemptFailed(tenant_id=T, workflow_id=W, job_id="cells", attempt=2, reason="x")
    assert isinstance(evolve(state, failed), Ended)
    assert verdict(state, ref(2).key) == Drop("attempt ended")
    assert evolve(state, failed) is None  # ended once


def test_success_and_cancel_end_attempts() -> None:
    state = MergerState()
    evolve(state, started(1))
    done = JobSucceeded(tenant_id=T, workflow_id=W, job_id="cells", attempt=1)
    assert evolve(state, done) == Ended(state.by_key[ref().key], "JobSucceeded")
    evolve(state, started(2))
    cancel = JobCancelled(tenant_id=T, workflow_id=W, job_id="cells")
    assert isinstance(evolve(state, cancel), Ended)


def test_a_finished_workflow_is_forgotten_but_its_late_results_are_dropped_for_an_hour() -> None:
    state = MergerState()
    evolve(state, started(1))
    evolve(state, started(2))
    finished = WorkflowFinished(tenant_id=T, workflow_id=W, state=WorkflowState.CANCELLED)
    evolve(state, finished)
    assert (state.current, state.by_key, state.ended) == ({}, {}, {})
    for attempt in (1, 2):  # a cancelled attempt's results still in RESULTS: dropped at once
        assert verdict(state, ref(attempt).key) == Drop("attempt ended")
    unknown = verdict(
        state, JobRef(tenant_id=T, workflow_id=uuid.uuid4(), job_id="x", attempt=1).key
    )
    assert unknown == Wait()
    other = JobStarted(tenant_id=T, workflow_id=uuid.uuid4(), job_id="x")
    evolve(state, other.model_copy(update={"occurred_at": finished.occurred_at + LATE_RESULTS}))
    assert len(state.gone) == 2
    evolve(state, other.model_copy(update={"occurred_at": other.occurred_at + 2 * LATE_RESULTS}))
    assert not state.gone  # log time moved on: the keys are gone too


def test_throttle_lets_one_through_per_interval_and_key() -> None:
    throttle = Throttle(0.5)
    assert throttle.due("a", 10.0)
    assert not throttle.due("a", 10.2)
    assert throttle.due("b", 10.2)
    assert throttle.due("a", 10.5)
    throttle.forget("a")
    assert throttle.due("a", 10.6)
    assert Throttle(0.0).due("a", 1.0) and Throttle(0.0).due("a", 1.0)


def test_completion_and_timings() -> None:
    assert is_complete(3, 3) and is_complete(0, 0) and not is_complete(2, 3)
    total: dict[str, float] = {}
    add_timings(total, {"read_s": 0.5, "forward_s": 1.0})
    add_timings(total, {"read_s": 0.25})
    summary = timing_summary({"plan_s": 0.123456}, total, wall_s=4.0)
    assert summary == {"plan_s": 0.123, "forward_s": 1.0, "read_s": 0.75, "wall_s": 4.0}
    assert with_finalise(summary, 0.5) == {**summary, "finalise_s": 0.5, "wall_s": 4.5}


def test_the_highest_progress_in_the_log_is_remembered_per_attempt() -> None:
    state = MergerState()
    evolve(state, started(1))
    attempt = state.by_key[ref(1).key]
    assert attempt.announced == -1  # not even 0 of 0 yet
    header = {"tenant_id": T, "workflow_id": W, "job_id": "cells", "tiles_total": 9}
    for done in (4, 9, 4):  # a late copy of an older count lowers nothing
        evolve(state, JobProgressed(**header, attempt=1, tiles_done=done))
    evolve(state, JobProgressed(**header, attempt=2, tiles_done=1))  # not started here: ignored
    assert attempt.announced == 9


def test_a_result_without_its_plan_waits_then_is_dropped() -> None:
    assert waiting_answer(1, 40, 0.25) == Answer("nak", 0.25)
    assert waiting_answer(40, 40, 0.25) == Answer("nak", 0.25)
    assert waiting_answer(41, 40, 0.25) == TERM
    assert ACK.how == "ack"


def test_disk_and_bus_trouble_send_results_back_and_bad_results_fail_the_attempt() -> None:
    for trouble in (OSError("disk full"), BusError("no answer")):
        for merging in (True, False):
            assert error_answer(trouble, merging=merging) == (Answer("nak", RETRY_S), None)
    answer, reason = error_answer(EncodingError("truncated"), merging=True)
    assert answer == TERM and reason == "merging results failed: EncodingError: truncated"
    # the same error after the merge (finalising, say) is a bug of the merger, not of the results
    answer, reason = error_answer(ValueError("bad summary"), merging=False)
    assert answer == TERM and reason == "merging failed: ValueError: bad summary"
    assert error_answer(KeyError("x"), merging=True)[0] == TERM
