"""Branch sequencing as a pure decider: which job runs next, retries, skips, cancels, finishes.

`evolve(state, event)` applies an event of the log (the sequencer's own decisions included) and
ignores what does not concern it or is already applied (a redelivery, a stale attempt), so the log
alone rebuilds the state. `decide(state, command)` reads the state and returns the next decisions:
`Tick(now)` asks for everything that is due (stalled attempts, verdicts on failed attempts, skips,
finished workflows, starts while worker slots are free, retries whose backoff is over); `CancelJob`
and `CancelWorkflow` are the user's requests (they raise `NotFound` or `Conflict` when refused; a
RUNNING job can be cancelled too: the tiler and merger end its attempt on `JobCancelled`, its slot
is free at once, and a result of that attempt that still arrives is ignored); `RerunJob` puts a
FAILED or CANCELLED job back to PENDING with the jobs its end skipped, in a new round of the
workflow (see `_rerun`; refused like a cancel). Since decisions derive
from the state and not from the event that triggered them, a replay followed by a `Tick` produces
exactly the decisions that a crash lost, and nothing that is already in the log. Decision event ids
are deterministic (`decision_id`): two replicas deciding the same thing publish the same
`Nats-Msg-Id`.

Rules (docs: DESIGN.md §2). A job starts when it is the head of its lane `(workflow, branch)`, all
its `depends_on` succeeded, its workflow is admitted and a worker slot is free; free slots go to
the tenant with the fewest running jobs (ties: the one served least recently), so no tenant takes
all. A failed attempt is retried in place after `retry_base * 2**(attempt-1)` (capped) while
`retries` allow; then the job FAILED and the rest of its lane plus every job that (transitively)
depends on it is SKIPPED. CANCELLED and SKIPPED jobs free their lane (and a cancelled RUNNING
job its worker slot) and skip their dependants. A RUNNING attempt without a sign of life
(JobStarted, JobPlanned, JobProgressed) for `stall_after` is failed by the sequencer itself
(JobAttemptFailed, retryable, the same id as a data-plane report of that attempt) and then
retried or failed like any other: a lost tile or a dead service never holds a worker slot, and
with it the tenant's admission, forever. Within `stall_after` of `awake_since` (when the service
began deciding, an input like `now`) nothing stalls: after the whole stack was down, the jobs
the log says are running get a full deadline to resume.

Time is an input: decisions carry `occurred_at=command.now`; nothing here reads a clock.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias
from uuid import UUID

from tessera.errors import Conflict, NotFound
from tessera.events import (
    Event,
    JobAttemptFailed,
    JobCancelled,
    JobEvent,
    JobFailed,
    JobPlanned,
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

from .reruns import rerun_set
from .state import (
    PENDING_PHASES,
    EndedWorkflow,
    Failure,
    Job,
    JobKey,
    Phase,
    SequencerState,
    Workflow,
)

# what a user may cancel: whatever has not ended
CANCELLABLE_PHASES = PENDING_PHASES | {Phase.RUNNING, Phase.FAILING}
CANCELLABLE_STATES = frozenset({JobState.PENDING, JobState.RUNNING})  # the same, seen from outside
RERUNNABLE_STATES = frozenset({JobState.FAILED, JobState.CANCELLED})

__all__ = [
    "CancelJob",
    "CancelWorkflow",
    "Command",
    "Decision",
    "RerunJob",
    "SequencerState",
    "Tick",
    "decide",
    "evolve",
    "job_state",
    "lane_depths",
    "next_stall",
    "next_timer",
    "react",
    "workflow_state",
]


@dataclass(frozen=True)
class Tick:
    """Decide everything that is due at `now` (after an event, or when a retry timer or a stall
    deadline fires)."""

    now: datetime


@dataclass(frozen=True)
class CancelJob:
    tenant_id: UUID
    workflow_id: UUID
    job_id: str
    now: datetime
    reason: str = "cancelled by user"


@dataclass(frozen=True)
class CancelWorkflow:
    """Cancel every job of the workflow that has not ended, running ones included. Refused only
    once the workflow is finished."""

    tenant_id: UUID
    workflow_id: UUID
    now: datetime
    reason: str = "workflow cancelled by user"


@dataclass(frozen=True)
class RerunJob:
    """Re-run a FAILED or CANCELLED job with the jobs its end made SKIPPED. Refused while a job
    after one of them in its lane has not ended (the lane runs in order), and when a dependency
    of the job itself failed or was cancelled or skipped (re-run that one). `spec` is the
    workflow's submission, which the shell reads from the log once the workflow has finished."""

    tenant_id: UUID
    workflow_id: UUID
    job_id: str
    now: datetime
    spec: WorkflowSpec | None = None


Command = Tick | CancelJob | CancelWorkflow | RerunJob
Decision: TypeAlias = (
    JobStarted
    | JobAttemptFailed
    | JobRetryScheduled
    | JobFailed
    | JobCancelled
    | JobSkipped
    | JobRerun
    | WorkflowFinished
)


def decide(state: SequencerState, command: Command) -> list[Decision]:
    """The decisions `command` calls for; reads `state`, never changes it.

    Raises `NotFound` for a job or workflow the tenant does not have, `Conflict` (with the current
    state) for a cancel that comes too late.
    """
    match command:
        case Tick(now=now):
            decisions: list[Decision] = [*_stalls(state, now), *_verdicts(state, now)]
            decisions += _skips(state, now)
            decisions += [_finished(state.workflows[wid], now) for wid in state.finishing]
            if decisions:  # start only on a settled state: a skip can make another job ready
                return decisions
            return _starts(state, now)
        case CancelJob():
            current = job_state(state, command.tenant_id, command.workflow_id, command.job_id)
            if current not in CANCELLABLE_STATES:
                raise Conflict(f"job {command.job_id!r} is {current.value}", state=current.value)
            job = _find_job(state, command.tenant_id, command.workflow_id, command.job_id)
            return [_cancelled(job, command.now, command.reason)]
        case CancelWorkflow():
            outcome = workflow_state(state, command.tenant_id, command.workflow_id)
            if outcome not in (WorkflowState.QUEUED, WorkflowState.RUNNING):
                raise Conflict(f"workflow is {outcome.value}", state=outcome.value)
            wf = _find_workflow(state, command.tenant_id, command.workflow_id)
            return [
                _cancelled(job, command.now, command.reason)
                for job in wf.jobs.values()
                if job.phase in CANCELLABLE_PHASES
            ]
        case RerunJob():
            return [_rerun(state, command)]


def evolve(state: SequencerState, event: Event) -> SequencerState:
    """Apply one event of the log to `state` (in place, for O(1) per event) and return it."""
    state.forget_ended(event.occurred_at)
    match event:
        case WorkflowSubmitted():
            wid = event.workflow_id
            if wid not in state.workflows and wid not in state.ended:
                state.add_workflow(wid, event.tenant_id, event.spec)
        case WorkflowAdmitted():
            wf = state.workflows.get(event.workflow_id)
            if wf is None:
                if event.workflow_id not in state.ended and not event.round:
                    state.admitted_early.add(event.workflow_id)  # else: raced a cancel, moot
            elif not wf.admitted and event.round == wf.opened:
                state.admit(event.workflow_id)
        case WorkflowFinished():
            wf = state.workflows.get(event.workflow_id)
            if wf is not None and wf.remaining == 0 and event.round == wf.round:
                state.finish(wf.id, event.state, event.occurred_at)
        case JobRerun():
            _evolve_rerun(state, event)
        case JobEvent():
            job = _event_job(state, event)
            if job is not None:
                _evolve_job(state, job, event)
    return state


def react(state: SequencerState, command: Command) -> list[Decision]:
    """Decide, evolve the decisions and decide again until nothing is due; all of them, in order.

    Raises like `decide` (and then changes nothing). For tests, benchmarks and replay recovery; a
    service that reads its decisions back from the log publishes each `decide` wave and folds the
    log up to it before deciding again, so that its state is always a prefix of the log.
    """
    decisions = decide(state, command)
    tick, out = Tick(command.now), []
    while decisions:
        for decision in decisions:
            evolve(state, decision)
        out += decisions
        decisions = decide(state, tick)
    return out


def job_state(state: SequencerState, tenant_id: UUID, workflow_id: UUID, job_id: str) -> JobState:
    ended = _find_ended(state, tenant_id, workflow_id)
    if ended is None:
        return _find_job(state, tenant_id, workflow_id, job_id).state
    if job_id not in ended[2]:
        raise NotFound("job", job_id)
    return ended[2][job_id]


def workflow_state(state: SequencerState, tenant_id: UUID, workflow_id: UUID) -> WorkflowState:
    """QUEUED or RUNNING; once every job is terminal, its outcome (even before it is recorded)."""
    ended = _find_ended(state, tenant_id, workflow_id)
    if ended is not None:
        return ended[1]
    wf = _find_workflow(state, tenant_id, workflow_id)
    if wf.remaining == 0:
        return wf.outcome()
    return WorkflowState.RUNNING if wf.admitted else WorkflowState.QUEUED


def next_timer(state: SequencerState) -> datetime | None:
    """When the earliest pending retry becomes due: the service ticks then."""
    tops = [queue.backoff[0][0] for queue in state.busy.values() if queue.backoff]
    return min(tops, default=None)


def next_stall(state: SequencerState) -> datetime | None:
    """When the stalest running attempt stalls unless it shows progress: the service ticks then."""
    return state.next_stall()


def lane_depths(state: SequencerState, top: int) -> list[tuple[UUID, str, int]]:
    """The `top` deepest lanes as (tenant, branch name, pending jobs), deepest first.

    Lanes of one name are summed over the tenant's workflows; empty lanes are left out. Reads
    the unfinished part of each lane (from its head), for the metrics only.
    """
    depths: dict[tuple[UUID, str], int] = {}
    for wf in state.workflows.values():
        for branch, lane in wf.lanes.items():
            pending = sum(
                wf.jobs[job_id].phase in PENDING_PHASES for job_id in lane.jobs[lane.head :]
            )
            if pending:
                key = (wf.tenant_id, branch)
                depths[key] = depths.get(key, 0) + pending
    deepest = heapq.nlargest(top, depths.items(), key=lambda item: item[1])
    return [(tenant, branch, n) for (tenant, branch), n in deepest]


# --- evolve -------------------------------------------------------------------------------


def _evolve_job(state: SequencerState, job: Job, event: JobEvent) -> None:
    """Apply a job event if it is the next step for this job and attempt; ignore it otherwise."""
    phase, current = job.phase, getattr(event, "attempt", job.attempt) == job.attempt
    match event:
        case JobStarted():
            if phase in PENDING_PHASES and event.attempt == job.attempt + 1:
                state.start(job, event.occurred_at)
        case JobPlanned() | JobProgressed():
            if phase is Phase.RUNNING and current:
                state.signed_life(job, event.occurred_at)
        case JobAttemptFailed():
            if phase is Phase.RUNNING and current:
                state.attempt_failed(job, _failure(event))
        case JobRetryScheduled():
            if phase is Phase.RUNNING and current:  # the failure report itself was not seen
                state.attempt_failed(job, _failure(event))
            if job.phase is Phase.FAILING and current:
                state.schedule_retry(job, event.retry_at)
        case JobSucceeded():
            if phase is Phase.RUNNING and current:
                state.terminate(job, Phase.SUCCEEDED)
        case JobFailed():
            if phase in (Phase.RUNNING, Phase.FAILING) and current:
                state.terminate(job, Phase.FAILED)
        case JobCancelled():  # carries no attempt: it ends whichever is current
            if phase in CANCELLABLE_PHASES and event.round == job.round:
                state.terminate(job, Phase.CANCELLED)
        case JobSkipped():
            if phase in PENDING_PHASES and event.round == job.round:
                state.terminate(job, Phase.SKIPPED)


def _evolve_rerun(state: SequencerState, event: JobRerun) -> None:
    """Apply a re-run if it is the workflow's next round; a repeat or stale one changes nothing."""
    wid = event.workflow_id
    wf = state.workflows.get(wid)
    ended = state.ended.get(wid)
    if wf is not None:
        current, tenant = wf.round, wf.tenant_id
    elif ended is not None and event.spec is not None:
        current, tenant = ended.round, ended.tenant_id
    else:
        return
    if tenant == event.tenant_id and event.round == current + 1:
        spec = event.spec if wf is None else None
        state.rerun(wid, tenant, event.jobs, event.attempts, event.round, spec)


def _failure(event: JobAttemptFailed | JobRetryScheduled) -> Failure:
    retryable = event.retryable if isinstance(event, JobAttemptFailed) else True
    return Failure(event.attempt, event.reason, event.occurred_at, retryable)


def _event_job(state: SequencerState, event: JobEvent) -> Job | None:
    wf = state.workflows.get(event.workflow_id)
    if wf is None or wf.tenant_id != event.tenant_id:
        return None
    return wf.jobs.get(event.job_id)


# --- decide -------------------------------------------------------------------------------


def _stalls(state: SequencerState, now: datetime) -> Iterator[Decision]:
    """Fail every running attempt that has shown no sign of life for `stall_after`."""
    seconds = f"{state.stall_after.total_seconds():g}"
    for job in state.stalled(now):
        yield JobAttemptFailed(
            **_header("JobAttemptFailed", job, now, job.attempt),
            attempt=job.attempt,
            reason=f"stalled: no progress for {seconds} s",
            retryable=True,
        )


def _verdicts(state: SequencerState, now: datetime) -> Iterator[Decision]:
    """Retry a failed attempt in place while retries remain, else fail the job for good."""
    for key in state.failing:
        job = state.job(key)
        failure = job.failure
        assert failure is not None
        tries = failure.attempt - job.rerun_from  # a re-run has the job's retries afresh
        if failure.retryable and tries <= job.retries:
            yield JobRetryScheduled(
                **_header("JobRetryScheduled", job, now, failure.attempt),
                attempt=failure.attempt,
                retry_at=failure.at + state.backoff(tries),
                reason=failure.reason,
            )
        else:
            yield JobFailed(
                **_header("JobFailed", job, now), attempt=failure.attempt, reason=failure.reason
            )


def _skips(state: SequencerState, now: datetime) -> Iterator[Decision]:
    """Skip every doomed job and, transitively, every pending job that depends on one."""
    reasons: dict[JobKey, str] = dict(state.doomed)
    todo = deque(state.doomed)
    while todo:
        job = state.job(todo.popleft())
        yield JobSkipped(
            **_header("JobSkipped", job, now), reason=reasons[job.key], round=job.round
        )
        wf = state.workflows[job.workflow_id]
        for dep_id in wf.dependants.get(job.id, ()):
            dependant = wf.jobs[dep_id]
            if dependant.phase in PENDING_PHASES and dependant.key not in reasons:
                reasons[dependant.key] = f"dependency {job.id!r} skipped"
                todo.append(dependant.key)


def _starts(state: SequencerState, now: datetime) -> list[Decision]:
    """Hand the free worker slots out, one at a time, to the tenant with the fewest running jobs.

    Costs O(T + k log T) for T tenants with startable work and k free slots: only the heads of
    the tenants' ready queues and due timers are read, never the whole backlog.
    """
    free = state.max_workers - state.running
    if free <= 0:
        return []
    order = [
        (queue.running, queue.last_served, tenant_id)
        for tenant_id, queue in state.busy.items()
        if queue.ready or (queue.backoff and queue.backoff[0][0] <= now)
    ]
    heapq.heapify(order)
    streams: dict[UUID, Iterator[Job]] = {}
    serial, out = state.starts, list[Decision]()
    while order and len(out) < free:
        running, _, tenant_id = heapq.heappop(order)
        if tenant_id not in streams:
            streams[tenant_id] = state.candidates(state.busy[tenant_id], now)
        job = next(streams[tenant_id], None)
        if job is None:
            continue
        attempt = job.attempt + 1
        out.append(JobStarted(**_header("JobStarted", job, now, attempt), attempt=attempt))
        serial += 1
        heapq.heappush(order, (running + 1, serial, tenant_id))
    return out


def _finished(wf: Workflow, now: datetime) -> WorkflowFinished:
    return WorkflowFinished(
        event_id=decision_id("WorkflowFinished", wf.id, *in_round(wf.round)),
        occurred_at=now,
        tenant_id=wf.tenant_id,
        workflow_id=wf.id,
        state=wf.outcome(),
        round=wf.round,
    )


def _cancelled(job: Job, now: datetime, reason: str) -> JobCancelled:
    return JobCancelled(**_header("JobCancelled", job, now), reason=reason, round=job.round)


def _rerun(state: SequencerState, command: RerunJob) -> JobRerun:
    """The re-run a user asked for: the job and the jobs its end made SKIPPED, transitively."""
    tenant, wid, job_id = command.tenant_id, command.workflow_id, command.job_id
    current = job_state(state, tenant, wid, job_id)  # NotFound for another tenant's ids
    if current not in RERUNNABLE_STATES:
        raise Conflict(
            f"job {job_id!r} is {current.value}: only a FAILED or CANCELLED job can be re-run",
            state=current.value,
        )
    ended = _find_ended(state, tenant, wid)
    if ended is None:
        wf = state.workflows[wid]
        states = {j.id: j.state for j in wf.jobs.values()}
        attempts = {j.id: j.attempt for j in wf.jobs.values()}
        lanes = {branch: lane.jobs for branch, lane in wf.lanes.items()}
        depends = {j.id: j.depends_on for j in wf.jobs.values()}
        round_, spec = wf.round, None
    else:
        if command.spec is None:
            raise NotFound("workflow submission", str(wid))
        states, attempts, round_, spec = ended.jobs, ended.attempts, ended.round, command.spec
        lanes = spec.lanes()
        depends = {j.id: j.depends_on for j in spec.jobs}
    again = rerun_set(job_id, states, lanes, depends)
    return JobRerun(
        event_id=decision_id("JobRerun", wid, round_ + 1),
        occurred_at=command.now,
        tenant_id=tenant,
        workflow_id=wid,
        job_id=job_id,
        jobs=again,
        attempts={j: attempts.get(j, 0) for j in again},
        round=round_ + 1,
        spec=spec,
    )


def _header(kind: str, job: Job, now: datetime, *identity: object) -> dict[str, Any]:
    return {
        "event_id": decision_id(kind, job.workflow_id, job.id, *identity, *in_round(job.round)),
        "occurred_at": now,
        "tenant_id": job.tenant_id,
        "workflow_id": job.workflow_id,
        "job_id": job.id,
    }


def _find_ended(state: SequencerState, tenant_id: UUID, workflow_id: UUID) -> EndedWorkflow | None:
    ended = state.ended.get(workflow_id)
    return ended if ended is not None and ended[0] == tenant_id else None


def _find_workflow(state: SequencerState, tenant_id: UUID, workflow_id: UUID) -> Workflow:
    wf = state.workflows.get(workflow_id)
    if wf is None or wf.tenant_id != tenant_id:  # another tenant's ids do not exist
        raise NotFound("workflow", str(workflow_id))
    return wf


def _find_job(state: SequencerState, tenant_id: UUID, workflow_id: UUID, job_id: str) -> Job:
    job = _find_workflow(state, tenant_id, workflow_id).jobs.get(job_id)
    if job is None:
        raise NotFound("job", job_id)
    return job
