"""Job attempts and timings derived from a job's history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tessera.gateway.api.models import JobTransition, attempts_of

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def step(seq: int, event: str, state: str, attempt: int, t: float, detail: str | None = None):
    return JobTransition(
        seq=seq, event_type=event, state=state, attempt=attempt, detail=detail, at=at(t)
    )


def test_a_retried_job_has_one_entry_per_attempt() -> None:
    history = [
        step(1, "JobStarted", "RUNNING", 1, 10),
        step(2, "JobRetryScheduled", "PENDING", 1, 15, "oom"),
        step(3, "JobStarted", "RUNNING", 2, 20),
        step(4, "JobSucceeded", "SUCCEEDED", 2, 26),
    ]
    attempts = attempts_of(history, now=at(100))
    assert [(a.attempt, a.outcome, a.reason, a.seconds) for a in attempts] == [
        (1, "FAILED", "oom", 5.0),
        (2, "SUCCEEDED", None, 6.0),
    ]


def test_a_running_attempt_counts_until_now_and_a_cancellation_closes_it() -> None:
    running = attempts_of([step(1, "JobStarted", "RUNNING", 1, 10)], now=at(12.5))
    assert [(a.outcome, a.finished_at, a.seconds) for a in running] == [(None, None, 2.5)]
    cancelled = attempts_of(
        [step(1, "JobStarted", "RUNNING", 1, 10), step(2, "JobCancelled", "CANCELLED", 0, 11, "x")],
        now=at(50),
    )
    assert [(a.attempt, a.outcome, a.seconds) for a in cancelled] == [(1, "CANCELLED", 1.0)]


def test_a_job_that_never_ran_has_no_attempts() -> None:
    assert attempts_of([step(1, "JobSkipped", "SKIPPED", 0, 1, "dep failed")], now=at(2)) == []
    assert attempts_of([step(1, "JobCancelled", "CANCELLED", 0, 1)], now=at(2)) == []
