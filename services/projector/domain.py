"""What each event means for the read models, as pure functions (no SQL here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from tessera.events import (
    Event,
    JobAttemptFailed,
    JobCancelled,
    JobFailed,
    JobRetryScheduled,
    JobSkipped,
    JobStarted,
    JobSucceeded,
)
from tessera.progress import RATE_WINDOW_S, Sample
from tessera.workflows import TERMINAL_JOB_STATES, JobState

JOB_TRANSITIONS: dict[type, JobState] = {
    JobStarted: JobState.RUNNING,
    JobFailed: JobState.FAILED,
    JobSucceeded: JobState.SUCCEEDED,
    JobCancelled: JobState.CANCELLED,
    JobSkipped: JobState.SKIPPED,
    JobRetryScheduled: JobState.PENDING,
}


def job_state_after(event: Event) -> JobState | None:
    """The job state an event moves its job to, or None if it does not change the state."""
    return JOB_TRANSITIONS.get(type(event))


def transition_detail(event: Event) -> str | None:
    """A short human-readable reason stored in the job's history."""
    if isinstance(event, JobFailed | JobAttemptFailed | JobRetryScheduled):
        return event.reason
    if isinstance(event, JobCancelled | JobSkipped):
        return event.reason
    return None


@dataclass(frozen=True, slots=True)
class JobTiming:
    """How long a job spent in one phase, for the metrics, in log time: `queued` from its
    workflow's submission to its first start, `ran` from its first start to its end."""

    phase: Literal["queued", "ran"]
    job_type: str
    seconds: float


def job_timing(
    event: Event, job_type: str, submitted_at: datetime, first_started_at: datetime | None
) -> JobTiming | None:
    """The timing an applied job event completes, if any (`first_started_at` as after it).

    A job that ends without ever starting (skipped, cancelled while pending) has no run time.
    """
    if isinstance(event, JobStarted):
        if first_started_at != event.occurred_at:  # a retry: it was queued once, at its first
            return None
        return JobTiming("queued", job_type, _seconds(submitted_at, event.occurred_at))
    state = job_state_after(event)
    if state in TERMINAL_JOB_STATES and first_started_at is not None:
        return JobTiming("ran", job_type, _seconds(first_started_at, event.occurred_at))
    return None


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


@dataclass(slots=True)
class RateWindows:
    """The progress samples of each running attempt that its rate still needs (the last
    RATE_WINDOW_S and the one before), kept between events so that a progress event need not
    read them back. A miss (a restart, a rolled back batch) reads them from `job_progress`,
    which holds the same samples, so the rate does not depend on what was kept."""

    kept: dict[tuple[Any, str, int], list[Sample]] = field(default_factory=dict)

    def get(self, workflow_id: Any, job_id: str, attempt: int) -> list[Sample] | None:
        found = self.kept.get((workflow_id, job_id, attempt))
        return None if found is None else list(found)

    def put(self, workflow_id: Any, job_id: str, attempt: int, samples: list[Sample]) -> None:
        """Keep `samples` from the window's anchor on, in time order (as they are read back)."""
        samples = sorted(samples, key=lambda s: s.at)
        cut = samples[-1].at - timedelta(seconds=RATE_WINDOW_S)
        anchor = max((i for i, s in enumerate(samples) if s.at <= cut), default=0)
        self.kept[(workflow_id, job_id, attempt)] = samples[anchor:]

    def forget(self, workflow_id: Any, job_id: str) -> None:
        """The job's state changed: its attempts' windows are of no more use."""
        for key in [k for k in self.kept if k[0] == workflow_id and k[1] == job_id]:
            del self.kept[key]

    def clear(self) -> None:
        self.kept.clear()
