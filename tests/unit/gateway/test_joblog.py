"""A job's log in words, from its state history and progress samples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tessera.gateway.joblog import job_log

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def history(seq: int, event_type: str, attempt: int, detail: str | None = None) -> dict[str, Any]:
    return {"seq": seq, "event_type": event_type, "attempt": attempt, "detail": detail,
            "at": at(seq), "state": "RUNNING"}  # fmt: skip


def sample(seq: int, attempt: int, done: int, total: int) -> dict[str, Any]:
    return {"seq": seq, "attempt": attempt, "tiles_done": done, "tiles_total": total, "at": at(seq)}


def test_a_retried_job_reads_as_what_happened_in_log_order() -> None:
    job = {"created_at": at(0), "state": "PENDING", "retry_at": at(60)}
    lines = job_log(
        job,
        [
            history(2, "JobStarted", 1),
            history(9, "JobAttemptFailed", 1, "worker lost"),
            history(10, "JobRetryScheduled", 1, "worker lost"),
        ],
        [sample(3, 1, 0, 8), sample(4, 1, 1, 8), sample(5, 1, 2, 8), sample(6, 1, 5, 8),
         sample(7, 1, 8, 8)],
    )  # fmt: skip
    assert [(line.kind, line.text) for line in lines] == [
        ("submitted", "submitted"),
        ("started", "started attempt 1"),
        ("planned", "planned 8 tiles"),
        ("progress", "25 % of the tiles done (2 / 8)"),
        ("progress", "50 % of the tiles done (5 / 8)"),
        ("progress", "all 8 tiles done"),
        ("attempt_failed", "attempt 1 failed: worker lost"),
        ("retry", "retry of attempt 1 scheduled"),
    ]
    assert lines[-1].until == at(60)  # it waits out the backoff now


def test_a_retry_that_is_over_names_no_time_and_each_attempt_counts_afresh() -> None:
    job = {"created_at": at(0), "state": "SUCCEEDED", "retry_at": None}
    lines = job_log(
        job,
        [history(2, "JobStarted", 1), history(4, "JobRetryScheduled", 1, "boom"),
         history(5, "JobStarted", 2), history(9, "JobSucceeded", 2)],
        [sample(3, 1, 0, 1), sample(6, 2, 0, 1), sample(7, 2, 1, 1)],
    )  # fmt: skip
    assert [line.text for line in lines] == [
        "submitted",
        "started attempt 1",
        "planned 1 tile",
        "retry of attempt 1 scheduled",
        "started attempt 2",
        "planned 1 tile",
        "all 1 tile done",
        "succeeded",
    ]
    assert all(line.until is None for line in lines)
