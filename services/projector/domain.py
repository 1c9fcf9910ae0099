"""What each event means for the read models, as pure functions (no SQL here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

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
