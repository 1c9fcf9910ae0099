"""What each event means for the read models, as pure functions (no SQL here)."""

from __future__ import annotations

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
from tessera.workflows import JobState

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


def percent(done: int, total: int) -> float:
    """Progress in percent; 0 while nothing is planned."""
    return round(100.0 * done / total, 2) if total > 0 else 0.0
