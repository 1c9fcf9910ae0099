"""The tiler's pure decisions: which attempts run (folded from the log), fair refills, failures.

`evolve(state, event)` folds the event log into what the tiler must know: each workflow's spec
(for the job a JobStarted names), which attempt of each job is running, whether it was planned,
and which jobs succeeded (a cell job may reuse the mask of a tissue-mask job it depends on). It
returns `Started(ref)` or `Ended(ref)` when an attempt begins or ends, so the service reacts to
the live log and, after a restart, resumes every attempt still running once the replay is done.

`refill` shares TILES between running jobs: at most `window` batches may be in the stream (queued
or being processed), whichever jobs they belong to, and each free place goes to the job with the
fewest, in turn, so the stream interleaves jobs and the inference pool, which serves it in order,
serves them in turn; a job that starts while others run waits behind one window, not one per
running job, and many one-batch jobs together still have one window.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar
from uuid import UUID

from tessera.errors import SlideError
from tessera.events import (
    Event,
    JobAttemptFailed,
    JobCancelled,
    JobFailed,
    JobPlanned,
    JobRerun,
    JobStarted,
    JobSucceeded,
    WorkflowFinished,
    WorkflowSubmitted,
)
from tessera.segmentation.errors import ModelUnavailable
from tessera.tiling.work import JobRef
from tessera.workflows import JobSpec, WorkflowSpec

JobId = tuple[UUID, str]  # (workflow, job)


@dataclass(frozen=True)
class Started:
    ref: JobRef


@dataclass(frozen=True)
class Ended:
    ref: JobRef
    why: str


Reaction = Started | Ended


@dataclass
class TilerState:
    # a snapshot is valid for this version and shape only (tessera.snapshots.fingerprint): bump
    # it when what the fold means changes; tests/unit/test_snapshot_shapes.py holds the shape
    SCHEMA_VERSION: ClassVar[int] = 1
    specs: dict[UUID, tuple[UUID, WorkflowSpec]] = field(default_factory=dict)
    running: dict[JobId, JobRef] = field(default_factory=dict)
    planned: set[JobRef] = field(default_factory=set)
    succeeded: dict[JobId, int] = field(default_factory=dict)

    def spec(self, ref: JobRef) -> JobSpec | None:
        entry = self.specs.get(ref.workflow_id)
        if entry is None or entry[0] != ref.tenant_id:
            return None
        try:
            return entry[1].job(ref.job_id)
        except KeyError:
            return None

    def is_running(self, ref: JobRef) -> bool:
        return self.running.get((ref.workflow_id, ref.job_id)) == ref


def evolve(state: TilerState, event: Event) -> Reaction | None:
    """Apply one event of the log; say whether an attempt started or ended."""
    match event:
        case WorkflowSubmitted():
            state.specs.setdefault(event.workflow_id, (event.tenant_id, event.spec))
        case JobRerun() if event.spec is not None:  # forgotten when it finished: open again
            state.specs.setdefault(event.workflow_id, (event.tenant_id, event.spec))
        case WorkflowFinished():
            state.specs.pop(event.workflow_id, None)
            for table in (state.running, state.succeeded):
                for key in [k for k in table if k[0] == event.workflow_id]:
                    del table[key]
            state.planned = {r for r in state.planned if r.workflow_id != event.workflow_id}
        case JobStarted():
            ref = JobRef.of(event)
            current = state.running.get((ref.workflow_id, ref.job_id))
            if current is None or current.attempt < ref.attempt:
                state.running[(ref.workflow_id, ref.job_id)] = ref
                return Started(ref)
        case JobPlanned():
            state.planned.add(JobRef.of(event))
        case JobSucceeded() | JobAttemptFailed() | JobFailed():
            ref = JobRef.of(event)
            if isinstance(event, JobSucceeded):
                state.succeeded[(ref.workflow_id, ref.job_id)] = ref.attempt
            if state.is_running(ref):
                del state.running[(ref.workflow_id, ref.job_id)]
                state.planned.discard(ref)
                return Ended(ref, event.type)
        case JobCancelled():
            current = state.running.pop((event.workflow_id, event.job_id), None)
            if current is not None:
                state.planned.discard(current)
                return Ended(current, event.type)
    return None


def mask_dependency(state: TilerState, ref: JobRef, spec: JobSpec) -> JobRef | None:
    """A succeeded tissue-mask job on the same slide that this job depends on, if any."""
    entry = state.specs.get(ref.workflow_id)
    if entry is None:
        return None
    for dep_id in spec.depends_on:
        try:
            dep = entry[1].job(dep_id)
        except KeyError:
            continue
        attempt = state.succeeded.get((ref.workflow_id, dep_id))
        if dep.type == "tissue_mask" and dep.slide == spec.slide and attempt is not None:
            return ref.model_copy(update={"job_id": dep_id, "attempt": attempt})
    return None


# --- flow control ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backlog:
    """One job's side of a refill: its batches in TILES now and those not yet published."""

    key: str
    in_flight: int
    remaining: int


def refill(jobs: Sequence[Backlog], window: int, in_tiles: int) -> list[str]:
    """Keys of the jobs to publish a batch for, in publishing order.

    `window` bounds every batch in TILES (`in_tiles`, queued or being processed): those of
    `jobs`, which have batches left to publish, and those of jobs that have published their last
    one (a one-batch job does so at once) or have ended, since all of them wait for one pool.
    Each free place goes to the job with the fewest batches in TILES, then the first in `jobs`,
    which the caller keeps in turn order (a job given a place goes to the back), never beyond
    what a job has left. A job that starts while others run therefore waits behind at most
    `window` batches and the jobs as empty as it is, not a window of each; with k jobs running
    each has about window/k in flight; one job alone has the whole window; and no job, however
    long it has run, waits for ever behind jobs that keep starting.
    """
    free = window - in_tiles
    heap = [(j.in_flight, i, i, j.remaining) for i, j in enumerate(jobs) if j.remaining]
    heapq.heapify(heap)
    back = len(jobs)  # places behind every job, for those given a place in this refill
    order: list[str] = []
    while free > 0 and heap:
        in_flight, _, i, remaining = heapq.heappop(heap)
        order.append(jobs[i].key)
        free -= 1
        if remaining > 1:
            heapq.heappush(heap, (in_flight + 1, back, i, remaining - 1))
            back += 1
    return order


# --- planning helpers ----------------------------------------------------------------------------


def spread(items: Sequence[int], count: int) -> list[int]:
    """Up to `count` items evenly spread over `items` (first and last included)."""
    if count <= 0 or not items:
        return []
    if len(items) <= count:
        return list(items)
    if count == 1:
        return [items[len(items) // 2]]
    step = (len(items) - 1) / (count - 1)
    return [items[min(len(items) - 1, math.floor(i * step + 0.5))] for i in range(count)]


def failure_of(error: Exception) -> tuple[str, bool]:
    """A planning error as (reason a user can act on, whether a retry could help)."""
    if isinstance(error, SlideError):
        return str(error), False
    if isinstance(error, ModelUnavailable):
        return str(error), error.reason.startswith("download failed")
    if isinstance(error, ValueError):  # parameters that cannot be planned (e.g. halo too big)
        return f"cannot plan the job: {error}", False
    return f"planning failed: {type(error).__name__}: {error}", True
