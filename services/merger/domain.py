"""The merger's pure decisions: which attempt a result belongs to, progress throttling, summary.

`evolve(state, event)` folds the log into the attempts the merger may write: the latest started
attempt of each job, its plan (JobPlanned), and the attempts that ended (succeeded, failed,
cancelled, or superseded by a newer attempt). `verdict(state, key)` then says what to do with a
result of attempt `key`: apply it, drop it (its attempt is over: results of an older attempt
never touch the current one's output), or wait (the plan is not in this replica's view of the
log yet). A finished workflow's attempts are forgotten except their keys, kept `LATE_RESULTS`
longer (log time): results of a cancelled attempt still in the queues are dropped at once, not
waited for as if their plan were to come.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar
from uuid import UUID

from tessera.events import (
    Event,
    JobAttemptFailed,
    JobCancelled,
    JobFailed,
    JobPlanned,
    JobProgressed,
    JobStarted,
    JobSucceeded,
    WorkflowFinished,
)
from tessera.tiling.work import JobRef, PlanDetails

JobId = tuple[UUID, str]
LATE_RESULTS = timedelta(hours=1)  # far beyond the few batches in flight when an attempt ends


@dataclass
class Attempt:
    ref: JobRef
    started_at: datetime
    plan: PlanDetails | None = None
    tiles_total: int = 0
    tissue_fraction: float | None = None
    announced: int = -1  # the highest tiles_done of its JobProgressed in the log (or appended)


@dataclass
class MergerState:
    # a snapshot is valid for this version and shape only (tessera.snapshots.fingerprint): bump
    # it when what the fold means changes; tests/unit/test_snapshot_shapes.py holds the shape
    SCHEMA_VERSION: ClassVar[int] = 1
    current: dict[JobId, Attempt] = field(default_factory=dict)
    by_key: dict[str, Attempt] = field(default_factory=dict)
    ended: dict[str, JobRef] = field(default_factory=dict)
    # attempt keys of finished workflows -> when the workflow finished, oldest first
    gone: OrderedDict[str, datetime] = field(default_factory=OrderedDict)


@dataclass(frozen=True)
class Ended:
    attempt: Attempt
    why: str


@dataclass(frozen=True)
class Apply:
    attempt: Attempt


@dataclass(frozen=True)
class Drop:
    why: str


@dataclass(frozen=True)
class Wait:
    pass


Verdict = Apply | Drop | Wait


def evolve(state: MergerState, event: Event) -> Ended | None:
    """Apply one event of the log; say when an attempt the merger may hold output for ended."""
    while state.gone and next(iter(state.gone.values())) < event.occurred_at - LATE_RESULTS:
        state.gone.popitem(last=False)
    match event:
        case JobStarted():
            ref = JobRef.of(event)
            old = state.current.get((ref.workflow_id, ref.job_id))
            if old is not None and old.ref.attempt >= ref.attempt:
                return None
            attempt = Attempt(ref, event.occurred_at)
            state.current[(ref.workflow_id, ref.job_id)] = attempt
            state.by_key[ref.key] = attempt
            if old is not None and old.ref.key not in state.ended:
                return _end(state, old, "superseded")
        case JobPlanned():
            planned = state.by_key.get(JobRef.of(event).key)
            if planned is not None and planned.plan is None:
                planned.plan = PlanDetails.model_validate(event.grid)
                planned.tiles_total = event.tiles_total
                planned.tissue_fraction = event.tissue_fraction
        case JobProgressed():
            progressed = state.by_key.get(JobRef.of(event).key)
            if progressed is not None:
                progressed.announced = max(progressed.announced, event.tiles_done)
        case JobSucceeded() | JobAttemptFailed() | JobFailed():
            over = state.by_key.get(JobRef.of(event).key)
            if over is not None and over.ref.key not in state.ended:
                return _end(state, over, event.type)
        case JobCancelled():
            cancelled = state.current.get((event.workflow_id, event.job_id))
            if cancelled is not None and cancelled.ref.key not in state.ended:
                return _end(state, cancelled, event.type)
        case WorkflowFinished():
            keys = [
                a.ref.key for a in state.by_key.values() if a.ref.workflow_id == event.workflow_id
            ]
            for job_id in [k for k in state.current if k[0] == event.workflow_id]:
                del state.current[job_id]
            for key in keys:
                del state.by_key[key]
                state.ended.pop(key, None)
                state.gone[key] = event.occurred_at
    return None


def _end(state: MergerState, attempt: Attempt, why: str) -> Ended:
    state.ended[attempt.ref.key] = attempt.ref
    return Ended(attempt, why)


def verdict(state: MergerState, key: str) -> Verdict:
    """What to do with a result of the attempt named `key`."""
    if key in state.ended or key in state.gone:
        return Drop("attempt ended")
    attempt = state.by_key.get(key)
    if attempt is None or attempt.plan is None:
        return Wait()
    return Apply(attempt)


def is_complete(tiles_done: int, tiles_total: int) -> bool:
    return tiles_done >= tiles_total


@dataclass
class Throttle:
    """At most one announcement per key and `interval` seconds (time is an input)."""

    interval: float
    last: dict[str, float] = field(default_factory=dict)

    def due(self, key: str, now: float) -> bool:
        if now - self.last.get(key, -math.inf) >= self.interval:
            self.last[key] = now
            return True
        return False

    def forget(self, key: str) -> None:
        self.last.pop(key, None)


def add_timings(total: dict[str, float], tile: Mapping[str, float]) -> None:
    """Accumulate one tile's stage seconds into the attempt's sums."""
    for stage, seconds in tile.items():
        total[stage] = total.get(stage, 0.0) + float(seconds)


def timing_summary(
    plan: Mapping[str, float], stages: Mapping[str, float], *, wall_s: float
) -> dict[str, float]:
    """Seconds per stage of an attempt: planning, reading, the model, results, merging.

    Stage sums add up work over all tiles (and workers), so with several workers they may
    exceed the wall time. The outputs' own finalisation is added once it is done.
    """
    out = {k: round(v, 3) for k, v in plan.items()}
    out.update({k: round(v, 3) for k, v in sorted(stages.items())})
    out["wall_s"] = round(wall_s, 3)
    return out


def with_finalise(timings: Mapping[str, float], finalise_s: float) -> dict[str, float]:
    """`timings` plus the seconds spent finalising the outputs (also added to the wall time)."""
    out = dict(timings)
    out["finalise_s"] = round(finalise_s, 3)
    out["wall_s"] = round(out.get("wall_s", 0.0) + finalise_s, 3)
    return out
