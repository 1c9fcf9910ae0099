"""The branch-sequencer decider: worked examples, then random worlds checked on every decision."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.branch_sequencer.domain import (
    CancelJob,
    Tick,
    decide,
    evolve,
    job_state,
    lane_depths,
    next_stall,
    next_timer,
    workflow_state,
)
from tessera.errors import Conflict, NotFound
from tessera.events import (
    JobAttemptFailed,
    JobProgressed,
    JobRetryScheduled,
    JobStarted,
    JobSucceeded,
    WorkflowFinished,
    decision_id,
)
from tessera.workflows import JobState, WorkflowSpec, WorkflowState

from .world import BASE, STALL, T0, World, spec


def started(decisions: list) -> list[str]:
    return [d.job_id for d in decisions if isinstance(d, JobStarted)]


# --- worked examples ----------------------------------------------------------------------

TENANT, OTHER = uuid.UUID(int=1), uuid.UUID(int=2)
WF, WF2 = uuid.UUID(int=101), uuid.UUID(int=102)
DESIGN_EXAMPLE = spec(
    {"id": "mask", "branch": "qc"},
    {"id": "cells", "branch": "cells", "depends_on": ["mask"], "retries": 1},
    {"id": "load", "branch": "cells"},
)


def test_nothing_runs_before_admission_then_lanes_and_dependencies_decide() -> None:
    world = World(max_workers=4)
    assert world.submit(TENANT, WF, DESIGN_EXAMPLE) == []
    assert workflow_state(world.state, TENANT, WF) is WorkflowState.QUEUED
    assert started(world.admit(WF)) == ["mask"]  # cells waits for mask, load waits behind cells
    assert started(world.report((WF, "mask"), "succeed")) == ["cells"]
    assert started(world.report((WF, "cells"), "succeed")) == ["load"]
    decisions = world.report((WF, "load"), "succeed")
    assert decisions == [
        WorkflowFinished(
            event_id=decision_id("WorkflowFinished", WF),
            occurred_at=T0,
            tenant_id=TENANT,
            workflow_id=WF,
            state=WorkflowState.SUCCEEDED,
        )
    ]


def test_lane_depths_count_pending_jobs_per_tenant_and_branch_deepest_first() -> None:
    world = World(max_workers=1)
    world.submit(TENANT, WF, DESIGN_EXAMPLE)
    world.submit(OTHER, WF2, spec(*({"id": f"j{i}", "branch": "bulk"} for i in range(4))))
    # nothing admitted yet: every job waits
    assert lane_depths(world.state, top=10) == [(OTHER, "bulk", 4), (TENANT, "cells", 2),
                                                (TENANT, "qc", 1)]  # fmt: skip
    world.admit(WF)  # mask starts: qc empties and drops out
    assert lane_depths(world.state, top=2) == [(OTHER, "bulk", 4), (TENANT, "cells", 2)]
    world.report((WF, "mask"), "succeed")  # cells starts; load still waits behind it
    assert (TENANT, "cells", 1) in lane_depths(world.state, top=10)


def test_a_blocked_lane_does_not_hold_back_a_ready_one() -> None:
    world = World(max_workers=2)
    world.submit(
        TENANT,
        WF,
        spec(
            {"id": "gate", "branch": "x"},
            {"id": "c", "branch": "y", "depends_on": ["gate"]},
            {"id": "c2", "branch": "y"},
            {"id": "d", "branch": "z"},
        ),
    )
    assert started(world.admit(WF)) == ["gate", "d"]  # not held back by blocked lane y
    assert started(world.report((WF, "d"), "succeed")) == []  # c2 waits behind c: lane FIFO
    assert started(world.report((WF, "gate"), "succeed")) == ["c"]
    assert started(world.report((WF, "c"), "succeed")) == ["c2"]


def test_slots_are_shared_between_tenants_not_taken_by_the_first() -> None:
    world = World(max_workers=4)
    wide = spec(*({"id": f"j{i}", "branch": f"b{i}"} for i in range(8)))
    world.submit(TENANT, WF, wide)
    world.submit(OTHER, WF2, wide)
    world.admit(WF)  # TENANT alone: takes all four slots
    assert world.admit(WF2) == []
    assert started(world.report((WF, "j0"), "succeed")) == ["j0"]  # OTHER's j0, not TENANT's j4
    assert world.state.tenants[OTHER].running == 1
    assert started(world.report((WF, "j1"), "succeed")) == ["j1"]  # 2 vs 1: OTHER again
    assert world.state.tenants[OTHER].running == 2
    assert started(world.report((WF, "j2"), "succeed")) == ["j4"]  # 1 vs 2: TENANT's turn
    assert (world.state.tenants[TENANT].running, world.state.tenants[OTHER].running) == (2, 2)


def test_a_failed_attempt_is_retried_in_place_after_a_backoff() -> None:
    world = World(max_workers=4)
    world.submit(
        TENANT, WF, spec({"id": "a", "retries": 2}, {"id": "b"}, {"id": "c", "branch": "other"})
    )
    assert started(world.admit(WF)) == ["a", "c"]
    (retry,) = world.report((WF, "a"), "fail")
    assert isinstance(retry, JobRetryScheduled) and retry.retry_at == T0 + BASE
    assert next_timer(world.state) == T0 + BASE
    assert world.tick(0.5) == []  # b stays behind a: the lane is blocked during the backoff
    (start,) = world.tick(0.5)
    assert (start.job_id, start.attempt) == ("a", 2)
    (retry,) = world.report((WF, "a"), "fail")
    assert retry.retry_at == T0 + BASE + 2 * BASE
    world.tick(2)
    assert started(world.report((WF, "a"), "succeed")) == ["b"]


def test_the_backoff_counts_from_the_failure_so_that_replicas_agree() -> None:
    world = World(max_workers=1)
    world.submit(TENANT, WF, spec({"id": "a", "retries": 1}))
    world.admit(WF)
    failed_at = T0 - timedelta(seconds=3)  # reported before the sequencer got to it
    world.log.append(
        JobAttemptFailed(
            tenant_id=TENANT, workflow_id=WF, job_id="a", reason="oom", occurred_at=failed_at
        )
    )
    evolve(world.state, world.log[-1])
    (retry,) = decide(world.state, Tick(T0))
    assert retry == JobRetryScheduled(
        event_id=decision_id("JobRetryScheduled", WF, "a", 1),
        occurred_at=T0,
        tenant_id=TENANT,
        workflow_id=WF,
        job_id="a",
        attempt=1,
        retry_at=failed_at + BASE,
        reason="oom",
    )
    (later,) = decide(world.state, Tick(T0 + timedelta(minutes=1)))  # a slower replica agrees
    assert (later.event_id, later.retry_at) == (retry.event_id, retry.retry_at)


def test_final_failure_skips_the_rest_of_the_lane_and_every_dependant_only() -> None:
    world = World(max_workers=4)
    world.submit(
        TENANT,
        WF,
        spec(
            {"id": "a", "branch": "x"},
            {"id": "a2", "branch": "x"},
            {"id": "b", "branch": "y", "depends_on": ["a"]},
            {"id": "b2", "branch": "y"},
            {"id": "c", "branch": "z", "depends_on": ["a2"]},
            {"id": "d", "branch": "w"},
        ),
    )
    world.admit(WF)
    decisions = world.report((WF, "a"), "fatal")  # not retryable: fails at once
    failed, *skipped, start = decisions
    assert (failed.type, failed.job_id) == ("JobFailed", "a")
    assert {(d.type, d.job_id) for d in skipped} == {("JobSkipped", j) for j in ("a2", "b", "c")}
    assert (start.type, start.job_id) == ("JobStarted", "b2")  # branch y carries on
    world.report((WF, "d"), "succeed")
    (finished,) = world.report((WF, "b2"), "succeed")
    assert finished.state is WorkflowState.FAILED


def test_cancel_is_accepted_until_the_job_ends_and_refused_with_the_state_after() -> None:
    world = World(max_workers=1)
    world.submit(
        TENANT, WF, spec({"id": "a"}, {"id": "b"}, {"id": "c", "branch": "y", "depends_on": ["b"]})
    )
    world.admit(WF)
    decisions = world.cancel_job((WF, "b"))  # pending
    assert [(d.type, d.job_id) for d in decisions] == [("JobCancelled", "b"), ("JobSkipped", "c")]
    with pytest.raises(NotFound):  # another tenant's workflow does not exist for it
        decide(world.state, CancelJob(OTHER, WF, "a", T0))
    with pytest.raises(NotFound):
        decide(world.state, CancelJob(TENANT, WF, "nope", T0))
    assert job_state(world.state, TENANT, WF, "a") is JobState.RUNNING
    cancelled, finished = world.cancel_job((WF, "a"))  # running: its slot is free at once
    assert (cancelled.type, cancelled.job_id) == ("JobCancelled", "a")
    assert finished.state is WorkflowState.CANCELLED and world.state.running == 0
    refused = world.cancel_job((WF, "a"))
    assert isinstance(refused, Conflict) and refused.state == "CANCELLED"
    refused = world.cancel_workflow(WF)
    assert isinstance(refused, Conflict) and refused.state == "CANCELLED"


def test_a_result_of_a_cancelled_running_attempt_is_ignored() -> None:
    world = World(max_workers=1)
    world.submit(TENANT, WF, spec({"id": "a"}, {"id": "b", "branch": "y"}))
    world.admit(WF)
    world.cancel_job((WF, "a"))
    (started,) = [d for d in world.log if d.type == "JobStarted" and d.job_id == "b"]
    late = JobSucceeded(
        tenant_id=TENANT, workflow_id=WF, job_id="a", attempt=1, occurred_at=world.now
    )
    assert world.state.running == 1  # b took a's slot
    evolve(world.state, late)  # the merger finished the last tile as the cancel was decided
    assert job_state(world.state, TENANT, WF, "a") is JobState.CANCELLED
    assert world.state.running == 1 and started.attempt == 1
    assert decide(world.state, Tick(world.now)) == []


def test_cancelling_a_workflow_cancels_every_job_that_has_not_ended() -> None:
    world = World(max_workers=1)
    world.submit(
        TENANT, WF, spec({"id": "a"}, {"id": "b", "branch": "y"}, {"id": "c", "depends_on": ["b"]})
    )
    world.admit(WF)
    decisions = world.cancel_workflow(WF)
    cancelled = [(d.type, d.job_id) for d in decisions if d.type == "JobCancelled"]
    assert cancelled == [("JobCancelled", "a"), ("JobCancelled", "b"), ("JobCancelled", "c")]
    assert decisions[-1].type == "WorkflowFinished"
    assert workflow_state(world.state, TENANT, WF) is WorkflowState.CANCELLED


def test_a_queued_workflow_can_be_cancelled_before_admission() -> None:
    world = World(max_workers=1)
    world.submit(TENANT, WF, spec({"id": "a"}))
    *_, finished = world.cancel_workflow(WF)
    assert isinstance(finished, WorkflowFinished) and finished.state is WorkflowState.CANCELLED
    assert world.admit(WF) == []  # a late admission changes nothing


def test_stale_and_duplicate_reports_change_nothing() -> None:
    world = World(max_workers=2)
    world.submit(TENANT, WF, spec({"id": "a", "retries": 1}))
    world.admit(WF)
    world.report((WF, "a"), "fail")
    world.tick(1)
    for index in range(len(world.log)):
        world.redeliver(index)
    world.log.append(JobSucceeded(tenant_id=TENANT, workflow_id=WF, job_id="a", attempt=1))
    world.redeliver(-1)  # attempt 1 is over: its late success is ignored
    assert job_state(world.state, TENANT, WF, "a") is JobState.RUNNING


def test_replicas_deciding_the_same_thing_produce_the_same_event_ids() -> None:
    a, b = World(max_workers=2), World(max_workers=2)
    for world in (a, b):
        world.submit(TENANT, WF, DESIGN_EXAMPLE)
    assert [d.event_id for d in a.admit(WF)] == [d.event_id for d in b.admit(WF)]


# --- the simulated world ------------------------------------------------------------------

TENANTS = [uuid.UUID(int=i) for i in range(1, 4)]
ACTIONS = (  # repeated entries weight the draw towards what makes traces interesting
    *("succeed", "succeed", "fail", "fail", "fatal", "progress", "tick", "tick"),
    *("admit", "cancel_job", "cancel_workflow", "redeliver", "rerun", "rerun"),
)


@st.composite
def workflows(draw: st.DrawFn) -> WorkflowSpec:
    """A random DAG: dependencies point to earlier jobs (so it is acyclic), any branch."""
    n = draw(st.integers(1, 6))
    jobs = []
    for i in range(n):
        deps = draw(st.sets(st.integers(0, i - 1), max_size=2)) if i else set()
        jobs.append(
            {
                "id": f"j{i}",
                "branch": draw(st.sampled_from("abc")),
                "depends_on": [f"j{d}" for d in sorted(deps)],
                "retries": draw(st.integers(0, 2)),
            }
        )
    return spec(*jobs)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    max_workers=st.integers(1, 4),
    plan=st.lists(st.tuples(st.sampled_from(TENANTS), workflows()), min_size=1, max_size=4),
    steps=st.lists(
        st.tuples(st.sampled_from(ACTIONS), st.integers(0, 10**6)), min_size=10, max_size=50
    ),
    sample=st.lists(st.integers(0, 10**6), max_size=3),
)
def test_every_decision_keeps_the_rules_and_every_job_ends_once(
    max_workers: int, plan: list, steps: list, sample: list[int]
) -> None:
    world = World(max_workers)
    ids = [uuid.UUID(int=1000 + i) for i in range(len(plan))]
    for i, (tenant, workflow) in enumerate(plan[:2]):
        world.submit(tenant, ids[i], workflow)
    submitted = min(2, len(plan))
    for action, pick in steps:
        known = list(world.specs)
        waiting = [w for w in known if w not in world.admitted]
        running = sorted(k for k, s in world.ref.items() if s is JobState.RUNNING)
        match action:
            case "succeed" | "fail" | "fatal" if running:
                world.report(running[pick % len(running)], action)
            case "progress" if running:
                world.progress(running[pick % len(running)])
            case "cancel_job":
                world.cancel_job(sorted(world.ref)[pick % len(world.ref)])
            case "cancel_workflow":
                world.cancel_workflow(known[pick % len(known)])
            case "rerun":  # mostly a FAILED or CANCELLED job; now and then one it refuses
                ended = sorted(
                    k
                    for k, s in world.ref.items()
                    if s in (JobState.FAILED, JobState.CANCELLED) or pick % 7 == 0
                )
                if ended:
                    world.rerun(ended[pick % len(ended)])
            case "tick":
                world.tick(pick % 5000 / 1000)
            case "redeliver":
                world.redeliver(pick % len(world.log))
            case _ if waiting and (action == "admit" or pick % 2):  # otherwise: make progress
                world.admit(waiting[pick % len(waiting)])
            case _ if submitted < len(plan):
                world.submit(plan[submitted][0], ids[submitted], plan[submitted][1])
                submitted += 1
            case _:
                world.tick(1)
    for i in range(submitted, len(plan)):
        world.submit(plan[i][0], ids[i], plan[i][1])
    world.drain()

    for key, final in world.ref.items():  # the oracle: what each job had to end as
        assert world.terminal[key] == 1
        if key in world.user_cancelled:
            assert final is JobState.CANCELLED
        elif world.doomed(key) and not world.rounds[key[0]]:
            assert final is JobState.SKIPPED
        elif world.doomed(key):  # a job may have ended before a re-run job before it failed
            assert final is not JobState.CANCELLED
        else:
            assert final in (JobState.SUCCEEDED, JobState.FAILED)
    if world.reactions:
        world.check_replay(sample)


def test_a_finished_workflow_is_kept_as_its_outcome_only_and_its_stale_timers_are_dropped() -> None:
    world = World(max_workers=2)
    world.submit(TENANT, WF, spec({"id": "a", "retries": 3}))
    world.submit(TENANT, WF2, spec({"id": "b", "retries": 3}))
    world.admit(WF)
    world.admit(WF2)
    world.report((WF2, "b"), "fail")
    world.now += timedelta(seconds=0.5)  # b is retried after 1 s
    world.report((WF, "a"), "fail")  # two retry timers in the tenant's heap: b's first
    world.cancel_workflow(WF)  # a's timer goes stale below b's (heaps delete lazily)
    assert WF not in world.state.workflows  # only what a late cancel needs is left
    assert world.state.ended[WF][:3] == (TENANT, WorkflowState.CANCELLED, {"a": JobState.CANCELLED})
    assert len(world.state.tenants[TENANT].backoff) == 2
    assert workflow_state(world.state, TENANT, WF) is WorkflowState.CANCELLED
    with pytest.raises(NotFound):
        job_state(world.state, TENANT, WF, "nope")
    with pytest.raises(NotFound):
        workflow_state(world.state, OTHER, WF)  # another tenant's finished workflow
    refused = world.cancel_job((WF, "a"))
    assert isinstance(refused, Conflict) and refused.state == "CANCELLED"
    for index in range(len(world.log)):  # the whole history again: nothing comes back
        world.redeliver(index)
    assert WF not in world.state.workflows and world.state.admitted_early == set()
    assert started(world.tick(60)) == ["b"]  # and the stale timer of the finished one is dropped
    assert world.state.tenants[TENANT].backoff == []
    world.report((WF2, "b"), "succeed")
    assert world.state.workflows == {} and set(world.state.ended) == {WF, WF2}
    assert workflow_state(world.state, TENANT, WF2) is WorkflowState.SUCCEEDED


def test_a_finished_workflow_is_forgotten_after_the_retention_in_log_time() -> None:
    world = World(max_workers=1)
    world.state.retention = timedelta(hours=1)
    world.submit(TENANT, WF, spec({"id": "a"}))
    world.admit(WF)
    world.report((WF, "a"), "succeed")
    assert workflow_state(world.state, TENANT, WF) is WorkflowState.SUCCEEDED

    def later(minutes: int) -> None:  # any event moves log time on
        event = JobProgressed(
            tenant_id=OTHER,
            workflow_id=WF2,
            job_id="x",
            tiles_done=1,
            tiles_total=2,
            occurred_at=world.now + timedelta(minutes=minutes),
        )
        evolve(world.state, event)  # fmt: skip

    later(59)
    assert workflow_state(world.state, TENANT, WF) is WorkflowState.SUCCEEDED
    later(61)
    assert WF not in world.state.ended
    with pytest.raises(NotFound):  # the gateway answers such a cancel from the read model
        decide(world.state, CancelJob(TENANT, WF, "a", world.now))


# --- stalled attempts ---------------------------------------------------------------------


def test_an_attempt_without_progress_is_failed_at_its_deadline_then_retried_then_failed() -> None:
    world = World(max_workers=1)
    world.submit(TENANT, WF, spec({"id": "a", "retries": 1}, {"id": "b"}))
    world.submit(OTHER, WF2, spec({"id": "x"}))
    world.admit(WF)
    world.admit(WF2)  # waits: the one slot is a's
    assert next_stall(world.state) == T0 + STALL
    assert world.tick(4) == []
    world.progress((WF, "a"))  # a sign of life: the deadline starts again
    assert next_stall(world.state) == T0 + timedelta(seconds=4) + STALL
    assert world.tick(5.9) == []
    stalled, retry, start = world.tick(0.1)
    assert stalled == JobAttemptFailed(
        event_id=decision_id("JobAttemptFailed", WF, "a", 1),  # as a data-plane report would be
        occurred_at=world.now,
        tenant_id=TENANT,
        workflow_id=WF,
        job_id="a",
        attempt=1,
        reason="stalled: no progress for 6 s",
    )
    assert isinstance(retry, JobRetryScheduled) and retry.retry_at == world.now + BASE
    assert (start.type, start.job_id) == ("JobStarted", "x")  # the slot is free at once
    world.report((WF2, "x"), "succeed")
    world.tick(1)  # the retry starts; nothing was heard of attempt 2 either
    assert job_state(world.state, TENANT, WF, "a") is JobState.RUNNING
    stalled, failed, skipped, finished = world.tick(6)
    assert (stalled.type, stalled.attempt, failed.type) == ("JobAttemptFailed", 2, "JobFailed")
    assert failed.reason == "stalled: no progress for 6 s" and skipped.job_id == "b"
    assert finished.state is WorkflowState.FAILED
    assert world.state.running == 0 and next_stall(world.state) is None


def test_a_late_failure_report_of_a_stalled_attempt_changes_nothing() -> None:
    world = World(max_workers=1)
    world.submit(TENANT, WF, spec({"id": "a", "retries": 1}))
    world.admit(WF)
    world.tick(6)  # stalled and retried
    (late,) = [e for e in world.log if e.type == "JobAttemptFailed"]
    world.log.append(late.model_copy(update={"reason": "tile lost", "occurred_at": world.now}))
    world.redeliver(-1)  # the data plane's own report of attempt 1, after the sequencer's
    assert world.state.job((WF, "a")).phase.value == "BACKOFF"
    (start,) = world.tick(1)
    assert start.attempt == 2 and next_stall(world.state) == world.now + STALL


def test_progress_of_another_attempt_does_not_keep_the_current_one_alive() -> None:
    world = World(max_workers=1)
    world.submit(TENANT, WF, spec({"id": "a", "retries": 1}))
    world.admit(WF)
    world.tick(6)
    world.tick(1)  # attempt 2 runs
    world.now += timedelta(seconds=5)
    stale = JobProgressed(
        tenant_id=TENANT, workflow_id=WF, job_id="a", attempt=1, tiles_done=3, tiles_total=4
    )
    world.log.append(stale.model_copy(update={"occurred_at": world.now}))
    world.redeliver(-1)  # a late merge of attempt 1 is no sign of attempt 2's life
    stalled, *_ = world.tick(1)
    assert (stalled.type, stalled.attempt) == ("JobAttemptFailed", 2)


def test_after_a_restart_running_attempts_get_a_full_deadline_before_they_stall() -> None:
    world = World(max_workers=2)
    world.submit(TENANT, WF, spec({"id": "a", "retries": 1}, {"id": "b", "branch": "y"}))
    world.admit(WF)
    world.now += timedelta(hours=8)  # the whole stack was down overnight
    world.state.awake_since = world.now  # the sequencer begins deciding again
    assert next_stall(world.state) == world.now + STALL  # not 8 h ago
    assert world.tick(STALL.total_seconds() - 1) == []
    world.progress((WF, "a"))  # a resumed: alive; b was lost meanwhile
    stalled, _ = world.tick(1)
    assert (stalled.type, stalled.job_id) == ("JobAttemptFailed", "b")
    assert next_stall(world.state) == world.now - timedelta(seconds=1) + STALL


# --- re-runs ------------------------------------------------------------------------------


def test_a_failed_job_is_rerun_with_what_its_failure_skipped_and_the_workflow_opens_again() -> None:
    world = World(max_workers=2)
    world.submit(
        TENANT,
        WF,
        spec(
            {"id": "a", "branch": "x"},
            {"id": "b", "branch": "x"},  # after a in its lane: skipped by a's failure
            {"id": "c", "branch": "y", "depends_on": ["b"]},  # skipped in turn
            {"id": "d", "branch": "z"},  # unrelated: succeeds
        ),
    )
    world.admit(WF)
    world.report((WF, "d"), "succeed")
    *_, finished = world.report((WF, "a"), "fatal")
    assert finished.state is WorkflowState.FAILED and WF in world.state.ended
    for key, state in (("a", "PENDING"), ("d", "SUCCEEDED"), ("b", "SKIPPED")):
        refused = world.rerun((WF, key)) if state != "PENDING" else None
        if refused is not None:
            assert isinstance(refused, Conflict) and refused.state == state
    (rerun,) = world.rerun((WF, "a"))
    assert (rerun.type, rerun.jobs, rerun.attempts, rerun.round) == (
        "JobRerun",
        ["a", "b", "c"],
        {"a": 1, "b": 0, "c": 0},
        1,
    )
    assert rerun.spec == world.specs[WF][1]  # the sequencer had forgotten it: the shell read it
    assert workflow_state(world.state, TENANT, WF) is WorkflowState.QUEUED  # admitted anew
    assert world.admit(WF)[0] == JobStarted(
        event_id=decision_id("JobStarted", WF, "a", 2, "round-1"),
        occurred_at=world.now,
        tenant_id=TENANT,
        workflow_id=WF,
        job_id="a",
        attempt=2,
    )
    assert started(world.report((WF, "a"), "succeed")) == ["b"]
    assert started(world.report((WF, "b"), "succeed")) == ["c"]
    (finished,) = world.report((WF, "c"), "succeed")
    assert finished.state is WorkflowState.SUCCEEDED and finished.round == 1
    assert finished.event_id == decision_id("WorkflowFinished", WF, "round-1")
    for index in range(len(world.log)):  # old skips, admissions and ends change nothing now
        world.redeliver(index)
    world.check_replay([])


def test_a_rerun_is_refused_while_a_later_job_of_its_lane_has_not_ended() -> None:
    world = World(max_workers=1)
    world.submit(TENANT, WF, spec({"id": "a"}, {"id": "b"}))
    world.admit(WF)
    world.cancel_job((WF, "a"))  # b starts in a's place
    refused = world.rerun((WF, "a"))
    assert isinstance(refused, Conflict) and refused.state == "CANCELLED"
    assert "job 'b' after 'a' in branch 'main' is RUNNING" in str(refused)
    world.report((WF, "b"), "succeed")
    (rerun,) = world.rerun((WF, "a"))  # the workflow had finished: admitted again first
    assert (rerun.jobs, rerun.spec is not None) == (["a"], True)
    assert started(world.admit(WF)) == ["a"]


def test_a_rerun_job_has_its_retries_afresh_and_is_refused_while_it_runs() -> None:
    world = World(max_workers=2)
    world.submit(TENANT, WF, spec({"id": "a", "retries": 1}, {"id": "b", "branch": "y"}))
    world.admit(WF)
    world.report((WF, "a"), "fail")
    world.tick(1)
    world.report((WF, "a"), "fail")  # attempt 2 was its last: FAILED, b still runs
    assert job_state(world.state, TENANT, WF, "a") is JobState.FAILED
    (rerun, start) = world.rerun((WF, "a"))  # the workflow still runs: no admission needed
    assert (rerun.spec, start.job_id, start.attempt) == (None, "a", 3)
    refused = world.rerun((WF, "a"))
    assert isinstance(refused, Conflict) and refused.state == "RUNNING"
    (retry,) = world.report((WF, "a"), "fail")  # attempt 3 is the re-run's first: retried
    assert isinstance(retry, JobRetryScheduled) and retry.retry_at == world.now + BASE
