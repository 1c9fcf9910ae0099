"""The branch-sequencer's state: jobs, lanes and the indexes that keep every decision cheap.

Nothing here scans all jobs. A job becomes READY in O(1) when the last thing it waited for happens
(its dependency count reaches zero, or it becomes the head of its lane); per-tenant ready queues are
insertion-ordered dicts (FIFO with O(1) removal); retry timers are per-tenant heaps with lazy
deletion; running jobs sit in one insertion-ordered dict by their last sign of life (a sign moves
its job to the end), so the stall deadline that is due first is at its front; "what must be
skipped", "what must be finished" and "which attempt failures await a verdict" are small ordered
work lists. Only `domain.evolve` mutates this state (through the methods below); `domain.decide`
only reads it.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar, NamedTuple
from uuid import UUID

from tessera.workflows import TERMINAL_JOB_STATES, JobState, WorkflowSpec, WorkflowState

JobKey = tuple[UUID, str]
"""(workflow_id, job_id): job ids are unique within a workflow only."""


class Phase(StrEnum):
    """A job's state as the sequencer tracks it; `Job.state` maps it onto the public JobState."""

    WAITING = "WAITING"  # PENDING: behind another job of its lane, or dependencies unfinished
    READY = "READY"  # PENDING: starts as soon as a worker slot goes to its tenant
    BACKOFF = "BACKOFF"  # PENDING: an attempt failed, retried at `retry_at`; the lane stays blocked
    RUNNING = "RUNNING"
    FAILING = "FAILING"  # still RUNNING to the outside: an attempt failed, retry not yet decided
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    SKIPPED = "SKIPPED"


PUBLIC_STATE = {
    Phase.WAITING: JobState.PENDING,
    Phase.READY: JobState.PENDING,
    Phase.BACKOFF: JobState.PENDING,
    Phase.RUNNING: JobState.RUNNING,
    Phase.FAILING: JobState.RUNNING,
    Phase.SUCCEEDED: JobState.SUCCEEDED,
    Phase.FAILED: JobState.FAILED,
    Phase.CANCELLED: JobState.CANCELLED,
    Phase.SKIPPED: JobState.SKIPPED,
}
PENDING_PHASES = frozenset({Phase.WAITING, Phase.READY, Phase.BACKOFF})
DOOMING_PHASES = frozenset({Phase.FAILED, Phase.CANCELLED, Phase.SKIPPED})  # for dependants
TERMINAL_PHASES = frozenset(p for p, s in PUBLIC_STATE.items() if s in TERMINAL_JOB_STATES)


@dataclass(slots=True)
class Failure:
    """An attempt failure reported by the data plane, waiting for the retry-or-fail verdict."""

    attempt: int
    reason: str
    at: datetime
    retryable: bool


@dataclass(slots=True)
class Job:
    workflow_id: UUID
    id: str
    tenant_id: UUID
    branch: str
    lane_index: int  # position in its lane (submission order)
    depends_on: tuple[str, ...]
    retries: int
    unmet: int  # dependencies not yet SUCCEEDED
    phase: Phase = Phase.WAITING
    attempt: int = 0  # attempts started so far
    retry_at: datetime | None = None
    failure: Failure | None = None
    round: int = 0  # the workflow's re-run round this job was last put back to PENDING in
    rerun_from: int = 0  # attempts before that re-run: its retries count from there

    @property
    def key(self) -> JobKey:
        return (self.workflow_id, self.id)

    @property
    def state(self) -> JobState:
        return PUBLIC_STATE[self.phase]


@dataclass(slots=True)
class Lane:
    jobs: list[str]
    head: int = 0  # index of the first job that is not terminal


@dataclass(slots=True)
class Workflow:
    id: UUID
    tenant_id: UUID
    jobs: dict[str, Job]  # in submission order
    lanes: dict[str, Lane]
    dependants: dict[str, list[str]]  # reverse of depends_on
    remaining: int  # jobs not yet terminal
    admitted: bool = False
    failed: int = 0
    cancelled: int = 0
    round: int = 0  # re-runs so far (JobRerun.round)
    opened: int = 0  # the round that opened it again after it finished: admission's round

    def outcome(self) -> WorkflowState:
        """The terminal state once every job is terminal: any failure wins over cancellation."""
        if self.failed:
            return WorkflowState.FAILED
        if self.cancelled:
            return WorkflowState.CANCELLED
        return WorkflowState.SUCCEEDED


TimerEntry = tuple[datetime, int, JobKey, int]  # (retry_at, tie-break serial, job, attempt)
PHASE_OF = {
    JobState.SUCCEEDED: Phase.SUCCEEDED,
    JobState.FAILED: Phase.FAILED,
    JobState.CANCELLED: Phase.CANCELLED,
    JobState.SKIPPED: Phase.SKIPPED,
}


class EndedWorkflow(NamedTuple):
    """What is kept of a finished workflow: enough to refuse a late cancel with the right state,
    and to re-run a job (with the submission's spec, which the shell reads from the log).
    Plain builtins: small in memory and quick to snapshot. Forgotten `retention` after it
    finished (the gateway then answers a cancel or re-run from the read model)."""

    tenant_id: UUID
    outcome: WorkflowState
    jobs: dict[str, JobState]
    at: datetime  # when it finished
    attempts: dict[str, int]  # the jobs that were started, and how often
    round: int


@dataclass(slots=True)
class TenantQueue:
    running: int = 0
    last_served: int = -1  # `starts` at its latest start: ties go to the longest waiting
    ready: OrderedDict[JobKey, None] = field(default_factory=OrderedDict)
    backoff: list[TimerEntry] = field(default_factory=list)  # heap; the top is never stale


@dataclass(slots=True)
class SequencerState:
    # a snapshot is valid for this version and shape only (tessera.snapshots.fingerprint): bump
    # it when what the fold means changes; tests/unit/test_snapshot_shapes.py holds the shape
    SCHEMA_VERSION: ClassVar[int] = 2  # 2: re-run rounds
    SETTINGS: ClassVar[tuple[str, ...]] = (  # not folded from the log
        "max_workers",
        "retry_base",
        "retry_cap",
        "retention",
        "stall_after",
        "awake_since",
    )

    max_workers: int = 8
    retry_base: timedelta = timedelta(seconds=5)
    retry_cap: timedelta = timedelta(minutes=5)
    retention: timedelta = timedelta(days=7)  # how long a finished workflow stays in `ended`
    stall_after: timedelta = timedelta(minutes=5)  # a running attempt without a sign of life
    # when this process began deciding: nothing stalls within `stall_after` of it, so that jobs
    # found running after the whole stack was down get a full deadline to show progress again
    awake_since: datetime | None = None
    workflows: dict[UUID, Workflow] = field(default_factory=dict)
    tenants: dict[UUID, TenantQueue] = field(default_factory=dict)
    busy: dict[UUID, TenantQueue] = field(default_factory=dict)  # those with ready/backoff jobs
    running: int = 0
    starts: int = 0
    timers: int = 0
    failing: OrderedDict[JobKey, None] = field(default_factory=OrderedDict)
    doomed: OrderedDict[JobKey, str] = field(default_factory=OrderedDict)  # job -> skip reason
    finishing: OrderedDict[UUID, None] = field(default_factory=OrderedDict)
    admitted_early: set[UUID] = field(default_factory=set)
    # RUNNING jobs -> their last sign of life (started, planned, progressed); stalest first
    alive: OrderedDict[JobKey, datetime] = field(default_factory=OrderedDict)
    # finished, out of `workflows`; in the order they finished
    ended: OrderedDict[UUID, EndedWorkflow] = field(default_factory=OrderedDict)

    # --- reading ------------------------------------------------------------------------------

    def job(self, key: JobKey) -> Job:
        return self.workflows[key[0]].jobs[key[1]]

    def backoff(self, attempt: int) -> timedelta:
        """Exponential backoff after failed attempt `attempt` (1-based), capped."""
        return min(self.retry_base * (1 << (attempt - 1)), self.retry_cap)

    def timer_job(self, key: JobKey, attempt: int) -> Job | None:
        """The job a retry timer is for, unless the timer is stale (heaps delete lazily)."""
        wf = self.workflows.get(key[0])  # a finished workflow's stale timers find nothing
        if wf is None:
            return None
        job = wf.jobs[key[1]]
        return job if job.phase is Phase.BACKOFF and job.attempt == attempt else None

    def stalled(self, now: datetime) -> Iterator[Job]:
        """The running jobs without a sign of life for `stall_after` at `now`, stalest first.

        Reads from the front and stops at the first one still alive: O(stalled). Signs come from
        several services' clocks, so the order is the log's and a slightly skewed entry behind
        the front is found a moment later.
        """
        if self.awake_since is not None and self.awake_since + self.stall_after > now:
            return
        for key, seen in self.alive.items():
            if seen + self.stall_after > now:
                return
            yield self.job(key)

    def next_stall(self) -> datetime | None:
        """When the front of `alive` stalls, if nothing is heard of it before."""
        for seen in self.alive.values():
            if self.awake_since is not None:
                seen = max(seen, self.awake_since)
            return seen + self.stall_after
        return None

    def candidates(self, queue: TenantQueue, now: datetime) -> Iterator[Job]:
        """The tenant's startable jobs, lazily: due retries first (earliest first), then FIFO."""
        for _, _, key, attempt in _due(queue.backoff, now):
            job = self.timer_job(key, attempt)
            if job is not None:
                yield job
        for key in queue.ready:
            yield self.job(key)

    # --- transitions (called by domain.evolve only) -------------------------------------------

    def add_workflow(self, workflow_id: UUID, tenant_id: UUID, spec: WorkflowSpec) -> None:
        lane_ids = spec.lanes()
        position = {job_id: i for ids in lane_ids.values() for i, job_id in enumerate(ids)}
        jobs = {
            j.id: Job(
                workflow_id,
                j.id,
                tenant_id,
                j.branch,
                position[j.id],
                j.depends_on,
                j.retries,
                unmet=len(set(j.depends_on)),
            )
            for j in spec.jobs
        }
        dependants: dict[str, list[str]] = {}
        for j in spec.jobs:
            for dep in set(j.depends_on):
                dependants.setdefault(dep, []).append(j.id)
        lanes = {branch: Lane(ids) for branch, ids in lane_ids.items()}
        self.workflows[workflow_id] = Workflow(
            workflow_id, tenant_id, jobs, lanes, dependants, remaining=len(jobs)
        )
        self.tenants.setdefault(tenant_id, TenantQueue())
        if workflow_id in self.admitted_early:
            self.admitted_early.discard(workflow_id)
            self.admit(workflow_id)

    def admit(self, workflow_id: UUID) -> None:
        wf = self.workflows[workflow_id]
        wf.admitted = True
        for lane in wf.lanes.values():
            if lane.head < len(lane.jobs):
                self._maybe_ready(wf.jobs[lane.jobs[lane.head]])

    def start(self, job: Job, at: datetime) -> None:
        queue = self.tenants[job.tenant_id]
        if job.phase is Phase.READY:
            del queue.ready[job.key]
        job.phase, job.attempt, job.retry_at = Phase.RUNNING, job.attempt + 1, None
        self.doomed.pop(job.key, None)  # only if another replica raced us; the log wins
        self.starts += 1
        self.running += 1
        self.alive[job.key] = at
        queue.running += 1
        queue.last_served = self.starts
        self._tidy(queue, job.tenant_id)

    def signed_life(self, job: Job, at: datetime) -> None:
        """The running attempt made progress at `at`: its stall deadline starts again.

        An older sign (a redelivery) changes nothing."""
        if at > self.alive[job.key]:
            self.alive[job.key] = at
            self.alive.move_to_end(job.key)

    def attempt_failed(self, job: Job, failure: Failure) -> None:
        job.phase, job.failure = Phase.FAILING, failure
        self._stop_running(job)
        self.failing[job.key] = None

    def schedule_retry(self, job: Job, retry_at: datetime) -> None:
        self.failing.pop(job.key, None)
        job.phase, job.failure, job.retry_at = Phase.BACKOFF, None, retry_at
        queue = self.tenants[job.tenant_id]
        self.timers += 1
        heapq.heappush(queue.backoff, (retry_at, self.timers, job.key, job.attempt))
        self.busy[job.tenant_id] = queue

    def terminate(self, job: Job, phase: Phase, reason: str = "") -> None:
        """Move `job` to a terminal phase and propagate: lane, dependants, workflow."""
        previous = job.phase
        if previous in (Phase.RUNNING, Phase.FAILING):
            if previous is Phase.RUNNING:
                self._stop_running(job)
            self.failing.pop(job.key, None)
        queue = self.tenants[job.tenant_id]
        if previous is Phase.READY:
            del queue.ready[job.key]
        job.phase, job.failure, job.retry_at = phase, None, None
        self.doomed.pop(job.key, None)
        self._tidy(queue, job.tenant_id)
        wf = self.workflows[job.workflow_id]
        wf.remaining -= 1
        wf.failed += phase is Phase.FAILED
        wf.cancelled += phase is Phase.CANCELLED
        for dep_id in wf.dependants.get(job.id, ()):
            dependant = wf.jobs[dep_id]
            if phase is Phase.SUCCEEDED:
                dependant.unmet -= 1
                self._maybe_ready(dependant)
            elif dependant.phase in PENDING_PHASES and dependant.key not in self.doomed:
                self.doomed[dependant.key] = f"dependency {job.id!r} {phase.lower()}"
        lane = wf.lanes[job.branch]
        if phase is Phase.FAILED:
            for later in lane.jobs[job.lane_index + 1 :]:
                other = wf.jobs[later]
                if other.phase in PENDING_PHASES and other.key not in self.doomed:
                    self.doomed[other.key] = f"job {job.id!r} of branch {job.branch!r} failed"
        while lane.head < len(lane.jobs) and wf.jobs[lane.jobs[lane.head]].phase in TERMINAL_PHASES:
            lane.head += 1
        if lane.head < len(lane.jobs):
            self._maybe_ready(wf.jobs[lane.jobs[lane.head]])
        if wf.remaining == 0:
            self.finishing[wf.id] = None

    def finish(self, workflow_id: UUID, state: WorkflowState, at: datetime) -> None:
        """Every job is terminal: keep only what a late cancel needs (`ended`)."""
        wf = self.workflows.pop(workflow_id)
        jobs = {j.id: j.state for j in wf.jobs.values()}
        attempts = {j.id: j.attempt for j in wf.jobs.values() if j.attempt}
        self.ended[workflow_id] = EndedWorkflow(wf.tenant_id, state, jobs, at, attempts, wf.round)
        self.finishing.pop(workflow_id, None)

    def rerun(
        self,
        workflow_id: UUID,
        tenant_id: UUID,
        jobs: list[str],
        attempts: dict[str, int],
        round_: int,
        spec: WorkflowSpec | None,
    ) -> None:
        """Put `jobs` back to PENDING in re-run round `round_`; a finished workflow is rebuilt
        from `spec` and its ended job states, and waits for admission again."""
        ended = self.ended.pop(workflow_id, None)
        if ended is not None:
            assert spec is not None
            self.add_workflow(workflow_id, tenant_id, spec)
            wf = self.workflows[workflow_id]
            wf.opened = round_
            for job in wf.jobs.values():
                job.phase = PHASE_OF[ended.jobs[job.id]]
                job.attempt = ended.attempts.get(job.id, 0)
        wf = self.workflows[workflow_id]
        again = set(jobs)
        for job_id in jobs:
            job = wf.jobs[job_id]
            job.phase, job.failure, job.retry_at = Phase.WAITING, None, None
            job.attempt, job.round = attempts.get(job_id, job.attempt), round_
            job.rerun_from = job.attempt
        wf.round = round_
        wf.remaining = sum(j.phase not in TERMINAL_PHASES for j in wf.jobs.values())
        wf.failed = sum(j.phase is Phase.FAILED for j in wf.jobs.values())
        wf.cancelled = sum(j.phase is Phase.CANCELLED for j in wf.jobs.values())
        for lane in wf.lanes.values():
            lane.head = next(
                (i for i, j in enumerate(lane.jobs) if wf.jobs[j].phase not in TERMINAL_PHASES),
                len(lane.jobs),
            )
        self.finishing.pop(workflow_id, None)
        for job_id in jobs:
            job = wf.jobs[job_id]
            deps = [wf.jobs[d] for d in set(job.depends_on)]
            job.unmet = sum(d.phase is not Phase.SUCCEEDED for d in deps)
            ahead = wf.lanes[job.branch].jobs[: job.lane_index]
            blocker = next(
                (d for d in deps if d.id not in again and d.phase in DOOMING_PHASES), None
            )
            failed = next((a for a in ahead if wf.jobs[a].phase is Phase.FAILED), None)
            if blocker is not None:
                self.doomed[job.key] = f"dependency {blocker.id!r} {blocker.phase.lower()}"
            elif failed is not None:
                self.doomed[job.key] = f"job {failed!r} of branch {job.branch!r} failed"
            else:
                self._maybe_ready(job)

    def forget_ended(self, now: datetime) -> None:
        """Drop the workflows that finished more than `retention` before `now` (log time)."""
        while self.ended:
            workflow_id, ended = next(iter(self.ended.items()))
            if ended[3] > now - self.retention:
                return
            del self.ended[workflow_id]

    # --- internals ----------------------------------------------------------------------------

    def _maybe_ready(self, job: Job) -> None:
        wf = self.workflows[job.workflow_id]
        if (
            job.phase is Phase.WAITING
            and job.unmet == 0
            and wf.admitted
            and wf.lanes[job.branch].head == job.lane_index
            and job.key not in self.doomed
        ):
            job.phase = Phase.READY
            queue = self.tenants[job.tenant_id]
            queue.ready[job.key] = None
            self.busy[job.tenant_id] = queue

    def _stop_running(self, job: Job) -> None:
        del self.alive[job.key]
        self.running -= 1
        self.tenants[job.tenant_id].running -= 1

    def _tidy(self, queue: TenantQueue, tenant_id: UUID) -> None:
        """Drop stale timers from the top of the heap and the tenant from `busy` once idle."""
        while queue.backoff:
            _, _, key, attempt = queue.backoff[0]
            if self.timer_job(key, attempt) is not None:
                break
            heapq.heappop(queue.backoff)
        if not queue.ready and not queue.backoff:
            self.busy.pop(tenant_id, None)


def _due(heap: list[TimerEntry], now: datetime) -> Iterator[TimerEntry]:
    """Entries of a heap with `retry_at <= now` in order, without popping: a best-first walk
    from the root, so reading the k earliest costs O(k log k) whatever the heap's size."""
    frontier: list[tuple[TimerEntry, int]] = []
    if heap and heap[0][0] <= now:
        frontier.append((heap[0], 0))
    while frontier:
        entry, i = heapq.heappop(frontier)
        yield entry
        for child in (2 * i + 1, 2 * i + 2):
            if child < len(heap) and heap[child][0] <= now:
                heapq.heappush(frontier, (heap[child], child))
