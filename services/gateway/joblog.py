"""A job's events as a readable log, derived from the read models (pure: no I/O).

The state history (`job_history`, one row per state change in the log) says when the job
started, failed, was retried, cancelled, skipped, re-run or succeeded; the progress samples
(`job_progress`, one per JobPlanned and JobProgressed) add when each attempt was planned and
when it passed a quarter, half and three quarters of its tiles, and did the last. Lines come
in log order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

LogKind = Literal[
    "submitted", "started", "planned", "progress", "attempt_failed", "retry", "failed",
    "cancelled", "skipped", "rerun", "succeeded",
]  # fmt: skip
MILESTONES = (25, 50, 75, 100)


class LogLine(BaseModel):
    """One thing that happened to a job, in words."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    kind: LogKind
    attempt: int = Field(description="the attempt it concerns (0: none yet)")
    text: str = Field(examples=["attempt 1 failed: slide unreadable"])
    until: datetime | None = Field(
        default=None, description="retry: when the next attempt is due (while it waits for it)"
    )


_HISTORY: dict[str, LogKind] = {
    "JobStarted": "started",
    "JobAttemptFailed": "attempt_failed",
    "JobRetryScheduled": "retry",
    "JobFailed": "failed",
    "JobCancelled": "cancelled",
    "JobSkipped": "skipped",
    "JobRerun": "rerun",
    "JobSucceeded": "succeeded",
}


def _history_text(kind: LogKind, attempt: int, detail: str | None) -> str:
    why = f": {detail}" if detail else ""
    match kind:
        case "started":
            return f"started attempt {attempt}"
        case "attempt_failed":
            return f"attempt {attempt} failed{why}"
        case "retry":
            return f"retry of attempt {attempt} scheduled"
        case "failed":
            return f"failed{why}"
        case "cancelled":
            return f"cancelled{why}"
        case "skipped":
            return f"skipped{why}"
        case "rerun":
            return detail or "re-run"
        case _:
            return "succeeded"


def job_log(
    job: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    samples: Sequence[Mapping[str, Any]],
) -> list[LogLine]:
    """The job's log: `job` its read-model row, `history` its state changes, `samples` its
    progress samples (each with `seq`, `attempt`, `tiles_done`, `tiles_total`, `at`)."""
    lines: list[tuple[int, LogLine]] = [
        (0, LogLine(at=job["created_at"], kind="submitted", attempt=0, text="submitted"))
    ]
    retries = [h for h in history if h["event_type"] == "JobRetryScheduled"]
    for h in history:
        kind = _HISTORY.get(h["event_type"])
        if kind is None:
            continue
        waits = kind == "retry" and h is retries[-1] and job["state"] == "PENDING"
        line = LogLine(
            at=h["at"],
            kind=kind,
            attempt=h["attempt"],
            text=_history_text(kind, h["attempt"], h["detail"]),
            until=job.get("retry_at") if waits else None,
        )
        lines.append((h["seq"], line))
    passed: dict[int, int] = {}  # attempt -> the last milestone it passed
    for s in samples:
        attempt, done, total = s["attempt"], s["tiles_done"], s["tiles_total"]
        said: tuple[LogKind, str] | None = None
        if attempt not in passed:
            passed[attempt] = 0
            if done == 0:  # JobPlanned's sample
                said = ("planned", f"planned {total} tile{'s' if total != 1 else ''}")
        reached = [m for m in MILESTONES if total > 0 and 100 * done >= m * total]
        if reached and reached[-1] > passed[attempt]:
            passed[attempt] = reached[-1]
            said = (
                "progress",
                f"all {total} tile{'s' if total != 1 else ''} done"
                if reached[-1] == 100
                else f"{reached[-1]} % of the tiles done ({done} / {total})",
            )
        if said is not None:
            line = LogLine(at=s["at"], kind=said[0], attempt=attempt, text=said[1])
            lines.append((s["seq"], line))
    return [line for _, line in sorted(lines, key=lambda pair: pair[0])]
