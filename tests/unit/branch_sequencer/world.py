"""A simulated world around the branch-sequencer, with a reference model for every decision.

`World` feeds the decider the events the log would carry (submissions, admissions, attempt results,
signs of progress, the passing of time, cancels, redeliveries) and judges each decision against a
model it builds from the events alone, so that a wrong decision fails at the step where it happens.
"""

from __future__ import annotations

import copy
from collections import Counter
from datetime import UTC, datetime, timedelta
from uuid import UUID

from tessera.branch_sequencer.domain import (
    CancelJob,
    CancelWorkflow,
    RerunJob,
    SequencerState,
    Tick,
    decide,
    evolve,
    job_state,
    react,
)
from tessera.errors import Conflict
from tessera.events import (
    Event,
    JobAttemptFailed,
    JobCancelled,
    JobFailed,
    JobProgressed,
    JobRerun,
    JobRetryScheduled,
    JobSkipped,
    JobStarted,
    JobSucceeded,
    WorkflowAdmitted,
    WorkflowFinished,
    WorkflowSubmitted,
    decision_id,
    in_round,
)
from tessera.workflows import JobState, WorkflowSpec, WorkflowState

T0 = datetime(2030, 1, 1, tzinfo=UTC)
BASE, CAP = timedelta(seconds=1), timedelta(seconds=4)
STALL = timedelta(seconds=6)
Key = tuple[UUID, str]


def spec(*jobs: dict) -> WorkflowSpec:
    return WorkflowSpec.model_validate({"jobs": [{"type": "synthetic", **j} for j in jobs]})


def fresh_state(max_workers: int) -> SequencerState:
    return SequencerState(
        max_workers=max_workers, retry_base=BASE, retry_cap=CAP, stall_after=STALL
    )


class World:
    """The sequencer's surroundings plus a reference model of what every decision may do."""

    def __init__(self, max_workers: int) -> None:
        self.state = fresh_state(max_workers)
        self.max_workers = max_workers
        self.now = T0
        self.log: list[Event] = []
        self.reactions: list[tuple[int, datetime, list]] = []  # log length before, now, decisions
        self.specs: dict[UUID, tuple[UUID, WorkflowSpec]] = {}
        self.admitted: set[UUID] = set()
        self.ref: dict[Key, JobState] = {}
        self.attempts: Counter[Key] = Counter()
        self.retry_at: dict[Key, datetime] = {}
        self.failing: dict[Key, tuple[datetime, bool]] = {}
        self.seen: dict[Key, datetime] = {}  # running attempt -> its last sign of life
        self.user_cancelled: set[Key] = set()
        self.terminal: Counter[Key] = Counter()
        self.finished: dict[UUID, WorkflowState] = {}
        self.starts = 0
        self.last_start: dict[UUID, int] = {}  # tenant -> number of the starts so far at its last
        self.rounds: Counter[UUID] = Counter()  # workflow -> re-runs so far
        self.opened: Counter[UUID] = Counter()  # workflow -> the re-run that opened it again
        self.job_round: Counter[Key] = Counter()  # job -> the round it was last re-run in
        self.rerun_from: Counter[Key] = Counter()  # job -> its attempts before that re-run

    # --- the reference model ------------------------------------------------------------------

    def jobs(self, wid: UUID) -> list[Key]:
        return [(wid, j.id) for j in self.specs[wid][1].jobs]

    def lane_before(self, key: Key) -> list[Key]:
        wid, job_id = key
        lane = self.specs[wid][1].lanes()[self.specs[wid][1].job(job_id).branch]
        return [(wid, j) for j in lane[: lane.index(job_id)]]

    def deps(self, key: Key) -> list[Key]:
        return [(key[0], d) for d in self.specs[key[0]][1].job(key[1]).depends_on]

    def runnable(self, key: Key) -> bool:
        return (
            self.ref[key] is JobState.PENDING
            and key[0] in self.admitted
            and all(self.ref[d] is JobState.SUCCEEDED for d in self.deps(key))
            and all(self.ref[p].terminal for p in self.lane_before(key))
            and self.retry_at.get(key, self.now) <= self.now
            and not self.doomed(key)
        )

    def doomed(self, key: Key) -> bool:
        bad = {JobState.FAILED, JobState.CANCELLED, JobState.SKIPPED}
        return any(self.ref[d] in bad for d in self.deps(key)) or any(
            self.ref[p] is JobState.FAILED for p in self.lane_before(key)
        )

    def running(self, tenant: UUID | None = None) -> int:
        return sum(
            1
            for k, s in self.ref.items()
            if s is JobState.RUNNING
            and k not in self.failing
            and (tenant is None or self.specs[k[0]][0] == tenant)
        )

    def silent_since(self, key: Key) -> datetime:
        """The last sign of life of the running attempt, or when the sequencer woke if later."""
        awake = self.state.awake_since  # an input, like `now`
        return self.seen[key] if awake is None else max(self.seen[key], awake)

    def retries(self, key: Key) -> int:
        """The attempts a job may still fail and be retried in, counted in its own numbers."""
        return self.specs[key[0]][1].job(key[1]).retries + self.rerun_from[key]

    # --- feeding the decider ------------------------------------------------------------------

    def feed(self, event: Event) -> list:
        self.log.append(event)
        self.observe(event)
        evolve(self.state, event)
        return self.settle(react(self.state, Tick(self.now)), replayable=True)

    def settle(self, decisions: list, replayable: bool) -> list:
        if replayable:
            self.reactions.append((len(self.log), self.now, decisions))
        for d in decisions:
            self.check(d)
            self.observe(d)
            self.log.append(d)
        self.check_quiet()
        return decisions

    def observe(self, e: Event) -> None:
        match e:
            case WorkflowSubmitted():
                self.specs[e.workflow_id] = (e.tenant_id, e.spec)
                self.ref.update({k: JobState.PENDING for k in self.jobs(e.workflow_id)})
            case WorkflowAdmitted():
                self.admitted.add(e.workflow_id)
            case WorkflowFinished():
                self.finished[e.workflow_id] = e.state
            case JobRerun():
                wid = e.workflow_id
                if self.finished.pop(wid, None) is not None:  # open again: admitted anew
                    self.admitted.discard(wid)
                    self.opened[wid] = e.round
                self.rounds[wid] = e.round
                for job_id in e.jobs:
                    key = (wid, job_id)
                    self.ref[key], self.terminal[key] = JobState.PENDING, 0
                    self.job_round[key] = e.round
                    self.rerun_from[key] = self.attempts[key]
                    self.user_cancelled.discard(key)
            case JobStarted():
                key = (e.workflow_id, e.job_id)
                self.ref[key], self.attempts[key] = JobState.RUNNING, e.attempt
                self.retry_at.pop(key, None)
                self.seen[key] = e.occurred_at
                self.starts += 1
                self.last_start[self.specs[e.workflow_id][0]] = self.starts
            case JobProgressed():
                key = (e.workflow_id, e.job_id)
                if self.ref[key] is JobState.RUNNING and e.attempt == self.attempts[key]:
                    self.seen[key] = max(self.seen[key], e.occurred_at)
            case JobAttemptFailed():
                self.failing[(e.workflow_id, e.job_id)] = (e.occurred_at, e.retryable)
            case JobRetryScheduled():
                key = (e.workflow_id, e.job_id)
                del self.failing[key]
                self.ref[key], self.retry_at[key] = JobState.PENDING, e.retry_at
            case JobSucceeded() | JobFailed() | JobCancelled() | JobSkipped():
                key = (e.workflow_id, e.job_id)
                self.failing.pop(key, None)
                self.retry_at.pop(key, None)
                self.terminal[key] += 1
                self.ref[key] = {
                    "JobSucceeded": JobState.SUCCEEDED,
                    "JobFailed": JobState.FAILED,
                    "JobCancelled": JobState.CANCELLED,
                    "JobSkipped": JobState.SKIPPED,
                }[e.type]

    def check(self, d: Event) -> None:
        """One decision, judged against the reference model before it is applied."""
        assert d.occurred_at == self.now
        if isinstance(d, WorkflowFinished):
            assert d.workflow_id not in self.finished
            states = {self.ref[k] for k in self.jobs(d.workflow_id)}
            assert all(s.terminal for s in states)
            expected = (
                WorkflowState.FAILED
                if JobState.FAILED in states
                else WorkflowState.CANCELLED
                if JobState.CANCELLED in states
                else WorkflowState.SUCCEEDED
            )
            assert d.state is expected
            rounds = in_round(self.rounds[d.workflow_id])
            assert d.event_id == decision_id("WorkflowFinished", d.workflow_id, *rounds)
            return
        if isinstance(d, JobRerun):  # the job and the jobs its end made SKIPPED
            wid = d.workflow_id
            assert self.ref[(wid, d.job_id)] in (JobState.FAILED, JobState.CANCELLED)
            assert d.jobs[0] == d.job_id and len(set(d.jobs)) == len(d.jobs)
            assert all(self.ref[(wid, j)] is JobState.SKIPPED for j in d.jobs[1:])
            assert d.attempts == {j: self.attempts[(wid, j)] for j in d.jobs}
            assert d.round == self.rounds[wid] + 1
            assert (d.spec is not None) == (wid in self.finished)
            return
        key = (d.workflow_id, d.job_id)
        assert self.specs[key[0]][0] == d.tenant_id
        assert self.terminal[key] == 0, "a job ends in exactly one terminal state"
        match d:
            case JobStarted():
                assert self.runnable(key), "started a job that could not run"
                assert d.attempt == self.attempts[key] + 1 <= self.retries(key) + 1
                assert self.running() < self.max_workers
                lane = {self.specs[key[0]][1].job(key[1]).branch}
                assert not any(  # one running job per lane
                    self.ref[k] is JobState.RUNNING
                    for k in self.jobs(key[0])
                    if self.specs[key[0]][1].job(k[1]).branch in lane
                )
                tenant = self.specs[key[0]][0]
                for wid, (other, _) in self.specs.items():  # no one starves: the slot goes to
                    if other != tenant and any(self.runnable(k) for k in self.jobs(wid)):
                        mine = (self.running(tenant), self.last_start.get(tenant, -1))
                        theirs = (self.running(other), self.last_start.get(other, -1))
                        assert mine <= theirs  # the fewest running, then the longest waiting
                rounds = in_round(self.job_round[key])
                assert d.event_id == decision_id("JobStarted", *key, d.attempt, *rounds)
            case JobAttemptFailed():  # only for an attempt without a sign of life for STALL
                assert self.ref[key] is JobState.RUNNING and key not in self.failing
                assert d.attempt == self.attempts[key] and d.retryable
                assert self.now - self.silent_since(key) >= STALL and d.reason.startswith("stall")
                rounds = in_round(self.job_round[key])
                assert d.event_id == decision_id("JobAttemptFailed", *key, d.attempt, *rounds)
            case JobRetryScheduled():
                failed_at, retryable = self.failing[key]
                assert retryable and d.attempt == self.attempts[key] <= self.retries(key)
                tries = d.attempt - self.rerun_from[key]  # a re-run has its retries afresh
                assert d.retry_at == failed_at + min(BASE * 2 ** (tries - 1), CAP)
            case JobFailed():
                assert key in self.failing and d.attempt == self.attempts[key]
                assert not self.failing[key][1] or d.attempt == self.retries(key) + 1
            case JobSkipped():
                assert self.ref[key] is JobState.PENDING and self.doomed(key)
            case JobCancelled():  # pending or running: whatever has not ended
                assert not self.ref[key].terminal and key in self.user_cancelled
            case _:
                raise AssertionError(f"unexpected decision {d!r}")

    def check_quiet(self) -> None:
        """What must hold once the decider has nothing left to decide."""
        assert not self.failing
        for key in self.seen:  # no running attempt is left past its deadline
            assert (
                self.ref[key] is not JobState.RUNNING or self.silent_since(key) + STALL > self.now
            )
        if self.running() < self.max_workers:  # work-conserving: no head-of-line blocking
            assert not [k for k in self.ref if self.runnable(k)]
        for key, s in self.ref.items():
            assert job_state(self.state, self.specs[key[0]][0], *key) is s
            if s is JobState.PENDING:
                assert not self.doomed(key)
        for wid in self.specs:
            done = all(self.ref[k].terminal for k in self.jobs(wid))
            assert (wid in self.finished) == done
        assert self.state.running == self.running()

    # --- what the world does ------------------------------------------------------------------

    def submit(self, tenant: UUID, wid: UUID, workflow: WorkflowSpec) -> list:
        return self.feed(WorkflowSubmitted(tenant_id=tenant, workflow_id=wid, spec=workflow))

    def admit(self, wid: UUID) -> list:
        tenant, round_ = self.specs[wid][0], self.opened[wid]
        return self.feed(WorkflowAdmitted(tenant_id=tenant, workflow_id=wid, round=round_))

    def report(self, key: Key, outcome: str) -> list:
        header = {"tenant_id": self.specs[key[0]][0], "workflow_id": key[0], "job_id": key[1]}
        header |= {"attempt": self.attempts[key], "occurred_at": self.now}
        if outcome == "succeed":
            return self.feed(JobSucceeded(**header))
        return self.feed(JobAttemptFailed(**header, reason="boom", retryable=outcome == "fail"))

    def progress(self, key: Key) -> list:
        """The data plane reports progress of the job's current attempt."""
        header = {"tenant_id": self.specs[key[0]][0], "workflow_id": key[0], "job_id": key[1]}
        header |= {"attempt": self.attempts[key], "occurred_at": self.now}
        return self.feed(JobProgressed(**header, tiles_done=1, tiles_total=2))

    def tick(self, seconds: float) -> list:
        self.now += timedelta(seconds=seconds)
        return self.settle(react(self.state, Tick(self.now)), replayable=True)

    def cancel_job(self, key: Key) -> list | Conflict:
        tenant = self.specs[key[0]][0]
        try:
            decisions = react(self.state, CancelJob(tenant, key[0], key[1], self.now))
        except Conflict as refused:
            assert self.ref[key].terminal and refused.state == self.ref[key].value
            return refused
        assert not self.ref[key].terminal and decisions[0].job_id == key[1]
        self.user_cancelled.add(key)
        return self.settle(decisions, replayable=False)

    def cancel_workflow(self, wid: UUID) -> list | Conflict:
        pending = {k for k in self.jobs(wid) if not self.ref[k].terminal}  # running ones too
        try:
            decisions = react(self.state, CancelWorkflow(self.specs[wid][0], wid, self.now))
        except Conflict as refused:
            assert wid in self.finished and refused.state == self.finished[wid].value
            return refused
        cancelled = {(d.workflow_id, d.job_id) for d in decisions if isinstance(d, JobCancelled)}
        assert cancelled == pending
        self.user_cancelled |= pending
        return self.settle(decisions, replayable=False)

    def rerun(self, key: Key) -> list | Conflict:
        """The user re-runs a job (the shell gives the submission once the workflow finished)."""
        tenant, spec = self.specs[key[0]]
        command = RerunJob(
            tenant, key[0], key[1], self.now, spec if key[0] in self.finished else None
        )
        try:
            decisions = react(self.state, command)
        except Conflict as refused:
            if self.ref[key] not in (JobState.FAILED, JobState.CANCELLED):
                assert refused.state == self.ref[key].value
            else:  # a later job of a lane it would re-enter runs, or its dependencies doom it
                assert "a lane runs in order" in str(refused) or self.doomed(key)
            return refused
        return self.settle(decisions, replayable=False)

    def redeliver(self, index: int) -> None:
        """A redelivered (or duplicated) event changes nothing and decides nothing."""
        before = copy.deepcopy(self.state)
        evolve(self.state, self.log[index])
        assert self.state == before
        assert decide(self.state, Tick(self.now)) == []

    def drain(self) -> None:
        """Let every running job succeed and every timer fire until all workflows finish."""
        for _ in range(10_000):
            running = [k for k, s in self.ref.items() if s is JobState.RUNNING]
            if running:
                self.report(running[0], "succeed")
            elif self.retry_at:
                self.tick((min(self.retry_at.values()) - self.now).total_seconds())
            elif waiting := [w for w in self.specs if w not in self.admitted]:
                self.admit(waiting[0])
            else:
                break
        assert set(self.finished) == set(self.specs), "a workflow never finished"

    def check_replay(self, sample: list[int]) -> None:
        """The log alone rebuilds the state; a prefix replay re-decides exactly what was decided."""
        rebuilt = fresh_state(self.max_workers)
        for e in self.log:
            evolve(rebuilt, e)
        assert rebuilt == self.state
        assert decide(rebuilt, Tick(self.now)) == []
        for i in sample:
            length, now, decisions = self.reactions[i % len(self.reactions)]
            prefix = fresh_state(self.max_workers)
            for e in self.log[:length]:
                evolve(prefix, e)
            assert react(prefix, Tick(now)) == decisions
