"""Admission and branch-sequencer together over one log, run the way the services run them.

Each decider folds the shared log in order and decides only when it has caught up with it (its
own decisions come back through the log; nothing is applied twice). A simulated data plane runs
what was started and reports successes and failed attempts; users cancel. The invariants are
checked on the log itself, so they hold whatever either decider believes.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.admission import domain as admission
from tessera.branch_sequencer import domain as sequencer
from tessera.errors import Conflict
from tessera.events import (
    Event,
    JobAttemptFailed,
    JobCancelled,
    JobFailed,
    JobRerun,
    JobRetryScheduled,
    JobSkipped,
    JobStarted,
    JobSucceeded,
    TenantActivated,
    TenantReleased,
    WorkflowAdmitted,
    WorkflowFinished,
    WorkflowSubmitted,
)
from tessera.workflows import WorkflowSpec

T0 = datetime(2030, 1, 1, tzinfo=UTC)
T = uuid.UUID(int=0)


class Pipeline:
    def __init__(
        self, max_active: int, max_workers: int, lossy: random.Random | None = None
    ) -> None:
        self.max_active, self.max_workers = max_active, max_workers
        self.lossy = lossy  # the sequencer's waves land in part, in any order (pipelined appends)
        self.admission = admission.AdmissionState(max_active_tenants=max_active)
        self.sequencer = sequencer.SequencerState(max_workers=max_workers)
        self.cursors = [0, 0]
        self.log: list[Event] = []
        self.now = T0
        self.checked = 0
        # what the log says, for the invariants
        self.specs: dict[UUID, tuple[UUID, WorkflowSpec]] = {}
        self.active: set[UUID] = set()
        self.admitted: set[UUID] = set()
        self.finished: set[UUID] = set()
        self.running: dict[tuple[UUID, str], int] = {}  # job -> attempt
        self.retry_at: dict[tuple[UUID, str], datetime] = {}
        self.done: Counter[tuple[UUID, str]] = Counter()
        self.succeeded: set[tuple[UUID, str]] = set()
        self.rerunnable: set[tuple[UUID, str]] = set()  # FAILED or CANCELLED
        self.reruns = 0

    def pump(self) -> None:
        """Let both deciders catch up and decide until neither has anything left to say."""
        deciders = [
            lambda e: admission.evolve(self.admission, e),
            lambda e: sequencer.evolve(self.sequencer, e),
        ]
        decide = [
            lambda: admission.decide(self.admission, admission.Tick(self.now)),
            lambda: sequencer.decide(self.sequencer, sequencer.Tick(self.now)),
        ]
        progressed = True
        while progressed:
            progressed = False
            for i, evolve in enumerate(deciders):
                while self.cursors[i] < len(self.log):
                    evolve(self.log[self.cursors[i]])
                    self.cursors[i] += 1
                if decisions := decide[i]():
                    if i == 1 and self.lossy is not None:
                        decisions = [d for d in decisions if self.lossy.random() < 0.7]
                        self.lossy.shuffle(decisions)
                    self.append(*decisions)
                    progressed = True

    def append(self, *events: Event) -> None:
        self.log += events
        for e in self.log[self.checked :]:
            self.check(e)
        self.checked = len(self.log)

    def check(self, e: Event) -> None:
        key: tuple[UUID, str] = (getattr(e, "workflow_id", T), getattr(e, "job_id", ""))
        match e:
            case WorkflowSubmitted():
                self.specs[e.workflow_id] = (e.tenant_id, e.spec)
            case TenantActivated():
                self.active.add(e.tenant_id)
                assert len(self.active) <= self.max_active
            case TenantReleased():
                assert all(
                    w in self.finished for w in self.admitted if self.specs[w][0] == e.tenant_id
                ), "released a tenant whose admitted work is not finished"
                self.active.discard(e.tenant_id)
            case WorkflowAdmitted():
                assert e.tenant_id in self.active
                self.admitted.add(e.workflow_id)
            case WorkflowFinished():
                self.finished.add(e.workflow_id)
            case JobRerun():
                assert (e.workflow_id, e.job_id) in self.rerunnable
                if e.spec is not None:  # it had finished: admitted anew before anything starts
                    assert e.workflow_id in self.finished
                    self.finished.discard(e.workflow_id)
                    self.admitted.discard(e.workflow_id)
                for job_id in e.jobs:
                    self.done[(e.workflow_id, job_id)] = 0
                    self.rerunnable.discard((e.workflow_id, job_id))
                    self.retry_at.pop((e.workflow_id, job_id), None)  # its backoff was cancelled
            case JobStarted():
                assert e.workflow_id in self.admitted and e.tenant_id in self.active
                assert len(self.running) < self.max_workers
                spec = self.specs[e.workflow_id][1]
                branch = spec.job(e.job_id).branch
                assert not [
                    k
                    for k in self.running
                    if k[0] == e.workflow_id and spec.job(k[1]).branch == branch
                ]
                assert all(
                    (e.workflow_id, d) in self.succeeded for d in spec.job(e.job_id).depends_on
                )
                assert self.retry_at.pop(key, self.now) <= self.now
                self.running[key] = e.attempt
            case JobAttemptFailed():
                del self.running[key]
            case JobRetryScheduled():
                self.retry_at[key] = e.retry_at
            case JobSucceeded() | JobFailed() | JobCancelled() | JobSkipped():
                self.running.pop(key, None)
                self.done[key] += 1
                assert self.done[key] == 1, "a job ended twice"
                if isinstance(e, JobSucceeded):
                    self.succeeded.add(key)
                if isinstance(e, JobFailed | JobCancelled):
                    self.rerunnable.add(key)

    # --- the world ----------------------------------------------------------------------------

    def submit(self, tenant: UUID, wid: UUID, spec: WorkflowSpec) -> None:
        self.append(
            WorkflowSubmitted(tenant_id=tenant, workflow_id=wid, spec=spec, occurred_at=self.now)
        )
        self.pump()

    def report(self, pick: int, ok: bool) -> None:
        if not self.running:
            return
        (wid, job_id), attempt = sorted(self.running.items())[pick % len(self.running)]
        header = {"tenant_id": self.specs[wid][0], "workflow_id": wid, "job_id": job_id}
        header |= {"attempt": attempt, "occurred_at": self.now}
        self.append(JobSucceeded(**header) if ok else JobAttemptFailed(**header, reason="boom"))
        self.pump()

    def cancel(self, pick: int) -> None:
        """Mostly a job that has not ended; sometimes any job (then often refused)."""
        jobs = sorted((w, j.id) for w, (_, s) in self.specs.items() for j in s.jobs)
        pending = [k for k in jobs if not self.done[k]]  # running ones too
        wid, job_id = (pending if pending and pick % 4 else jobs)[pick % len(pending or jobs)]
        try:  # the sequencer is caught up (pump), as its request handler would be
            decisions = sequencer.decide(
                self.sequencer, sequencer.CancelJob(self.specs[wid][0], wid, job_id, self.now)
            )
        except Conflict:  # only a job that ended is refused
            assert self.done[(wid, job_id)] == 1
            return
        self.append(*decisions)
        self.pump()

    def rerun(self, pick: int) -> None:
        """A user re-runs a FAILED or CANCELLED job (the shell reads the submission from the log
        when the workflow has finished)."""
        if not self.rerunnable:
            return
        wid, job_id = sorted(self.rerunnable)[pick % len(self.rerunnable)]
        tenant, spec = self.specs[wid]
        known = spec if wid in self.sequencer.ended else None
        try:
            decisions = sequencer.decide(
                self.sequencer, sequencer.RerunJob(tenant, wid, job_id, self.now, known)
            )
        except Conflict:  # a later job of its lane still runs, or its dependency failed
            return
        self.reruns += 1
        self.append(*decisions)
        self.pump()

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.pump()


@st.composite
def workflows(draw: st.DrawFn) -> WorkflowSpec:
    n = draw(st.integers(1, 5))
    jobs = [
        {
            "id": f"j{i}",
            "type": "synthetic",
            "branch": draw(st.sampled_from("ab")),
            "depends_on": [
                f"j{d}" for d in sorted(draw(st.sets(st.integers(0, i - 1), max_size=2)))
            ]
            if i
            else [],
            "retries": draw(st.integers(0, 1)),
        }
        for i in range(n)
    ]
    return WorkflowSpec.model_validate({"jobs": jobs})


TENANTS = [uuid.UUID(int=i) for i in range(1, 6)]


@pytest.mark.parametrize("lossy", [False, True], ids=["whole-waves", "parts-of-waves"])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    max_active=st.integers(1, 3),
    max_workers=st.integers(1, 4),
    submissions=st.lists(st.tuples(st.sampled_from(TENANTS), workflows()), min_size=1, max_size=8),
    steps=st.lists(
        st.tuples(
            st.sampled_from(("submit", "ok", "ok", "fail", "cancel", "rerun", "tick")),
            st.integers(0, 10**6),
        ),
        max_size=60,
    ),
    seed=st.integers(0, 2**32),
)
def test_tenants_are_bounded_jobs_follow_the_rules_and_everyone_finishes(
    lossy: bool, max_active: int, max_workers: int, submissions: list, steps: list, seed: int
) -> None:
    """`parts-of-waves`: the branch-sequencer appends a wave's decisions together (pipelined),
    so one may be refused or time out while later ones land, and a subject's second decision
    lands after the others. Whatever part of a wave reaches the log, in whatever order, deciding
    again from the log keeps every rule and finishes everything."""
    world = Pipeline(max_active, max_workers, random.Random(seed) if lossy else None)
    todo = [(t, uuid.UUID(int=1000 + i), s) for i, (t, s) in enumerate(submissions)]
    for _ in range(len(todo) // 2):  # contention from the start; the rest arrives later
        world.submit(*todo.pop(0))
    for action, pick in steps:
        if action == "submit" and todo:
            world.submit(*todo.pop(0))
        elif action in ("ok", "fail"):
            world.report(pick, action == "ok")
        elif action == "cancel" and world.specs:
            world.cancel(pick)
        elif action == "rerun":
            world.rerun(pick)
        elif action == "tick":
            world.tick(pick % 20_000 / 1000)
    for item in todo:
        world.submit(*item)
    for _ in range(10_000):  # the data plane finishes what runs; timers fire
        if world.running:
            world.report(0, ok=True)
        elif pending := [t for k, t in world.retry_at.items() if not world.done[k]]:
            world.tick((min(pending) - world.now).total_seconds())
        else:
            break

    assert world.finished == set(world.specs), "some tenant's workflow never ran to the end"
    assert all(world.done[(w, j.id)] == 1 for w, (_, s) in world.specs.items() for j in s.jobs)
    assert not world.active
    assert admission.tenant_status(world.admission, TENANTS[0]).waiting_tenants == 0
    rebuilt_a = admission.AdmissionState(max_active_tenants=max_active)
    rebuilt_s = sequencer.SequencerState(max_workers=max_workers)
    for e in world.log:
        admission.evolve(rebuilt_a, e)
        sequencer.evolve(rebuilt_s, e)
    assert rebuilt_a == world.admission and rebuilt_s == world.sequencer
