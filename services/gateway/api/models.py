"""Response bodies of the REST API and the live stream (requests reuse `WorkflowSpec`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from tessera.projector.domain import percent

_WID = "0b7e4f7e-5c1a-4d6b-9a53-6f2f0d3c1a11"
_AT = "2025-01-01T10:00:00Z"
_JOB_EXAMPLE: dict[str, Any] = {
    "workflow_id": _WID,
    "id": "cells",
    "type": "cell_segmentation",
    "branch": "cells",
    "position": 1,
    "slide": "CMU-1-Small-Region.svs",
    "params": {
        "model": "auto",
        "tile_size": 512,
        "halo": 64,
        "batch_size": 0,
        "mpp": None,
        "min_tissue": 0.05,
    },
    "depends_on": ["mask"],
    "retries": 1,
    "state": "RUNNING",
    "attempt": 1,
    "progress": {"tiles_done": 120, "tiles_total": 480, "percent": 25.0},
    "tissue_fraction": 0.41,
    "reason": None,
    "summary": None,
    "created_at": _AT,
    "started_at": "2025-01-01T10:00:05Z",
    "finished_at": None,
    "updated_at": "2025-01-01T10:00:35Z",
    "last_seq": 57,
}
_WORKFLOW_EXAMPLE: dict[str, Any] = {
    "id": _WID,
    "name": "slide 42",
    "state": "RUNNING",
    "queue_position": None,
    "jobs_total": 3,
    "jobs_finished": 1,
    "progress": {"tiles_done": 184, "tiles_total": 544, "percent": 33.82},
    "submitted_at": _AT,
    "started_at": "2025-01-01T10:00:01Z",
    "finished_at": None,
    "updated_at": "2025-01-01T10:00:35Z",
    "last_seq": 57,
}


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(frozen=True, json_schema_extra={"examples": list(examples)})


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class WorkflowAccepted(_Out):
    model_config = _examples({"workflow_id": _WID, "state": "QUEUED", "event_seq": 42})

    workflow_id: UUID
    state: str = Field(examples=["QUEUED"])
    event_seq: int = Field(description="sequence of WorkflowSubmitted in the event log")


class Progress(_Out):
    tiles_done: int
    tiles_total: int
    percent: float

    @classmethod
    def of(cls, done: int, total: int) -> Progress:
        return cls(tiles_done=done, tiles_total=total, percent=percent(done, total))


class JobTransition(_Out):
    seq: int = Field(description="log sequence of the event")
    event_type: str = Field(examples=["JobStarted"])
    state: str = Field(examples=["RUNNING"])
    attempt: int
    detail: str | None
    at: datetime


class JobView(_Out):
    workflow_id: UUID
    id: str
    type: str
    branch: str
    position: int = Field(description="place in the submission (lanes keep this order)")
    slide: str | None
    params: dict[str, Any]
    depends_on: list[str]
    retries: int
    state: str = Field(examples=["PENDING", "RUNNING", "SUCCEEDED"])
    attempt: int
    progress: Progress
    tissue_fraction: float | None
    reason: str | None
    summary: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    last_seq: int = Field(description="log sequence of the job's last change")

    @classmethod
    def of(cls, row: dict[str, Any]) -> JobView:
        return cls(
            id=row["job_id"],
            progress=Progress.of(row["tiles_done"], row["tiles_total"]),
            **{k: v for k, v in row.items() if k in cls.model_fields and k != "id"},
        )


class JobAttempt(_Out):
    attempt: int
    started_at: datetime | None
    finished_at: datetime | None
    outcome: str | None = Field(
        description="SUCCEEDED, FAILED or CANCELLED; null while it runs", examples=["FAILED"]
    )
    reason: str | None
    seconds: float | None = Field(description="wall time of the attempt (so far, if running)")


class JobTimings(_Out):
    queued_seconds: float | None = Field(description="from submission to the first start")
    running_seconds: float | None = Field(description="from the first start to the end (or now)")
    total_seconds: float | None = Field(description="from submission to the end (or now)")


class JobDetail(JobView):
    """A job with its state history (from the log), attempts and timings."""

    model_config = _examples(
        {
            **_JOB_EXAMPLE,
            "history": [
                {
                    "seq": 31,
                    "event_type": "JobStarted",
                    "state": "RUNNING",
                    "attempt": 1,
                    "detail": None,
                    "at": "2025-01-01T10:00:05Z",
                }
            ],
            "attempts": [
                {
                    "attempt": 1,
                    "started_at": "2025-01-01T10:00:05Z",
                    "finished_at": None,
                    "outcome": None,
                    "reason": None,
                    "seconds": 30.0,
                }
            ],
            "timings": {"queued_seconds": 5.0, "running_seconds": 30.0, "total_seconds": 35.0},
        }
    )

    history: list[JobTransition]
    attempts: list[JobAttempt]
    timings: JobTimings

    @classmethod
    def of(cls, row: dict[str, Any], now: datetime | None = None) -> JobDetail:
        now = now or datetime.now(UTC)
        base = JobView.of(row)
        history = [JobTransition(**h) for h in row["history"]]
        end = base.finished_at or now
        timings = JobTimings(
            queued_seconds=_span(base.created_at, base.started_at or end),
            running_seconds=_span(base.started_at, end),
            total_seconds=_span(base.created_at, end),
        )
        return cls(
            **dict(base), history=history, attempts=attempts_of(history, now), timings=timings
        )


def _span(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max(0.0, (end - start).total_seconds()), 3)


_OUTCOMES = {
    "JobSucceeded": "SUCCEEDED",
    "JobFailed": "FAILED",
    "JobAttemptFailed": "FAILED",
    "JobRetryScheduled": "FAILED",
    "JobCancelled": "CANCELLED",
}


def attempts_of(history: list[JobTransition], now: datetime) -> list[JobAttempt]:
    """One entry per attempt, from the job's history: when it started, how and when it ended.

    An end without an attempt number (a cancellation) closes the latest attempt still open.
    """
    attempts: dict[int, dict[str, Any]] = {}
    for h in history:
        if h.event_type == "JobStarted":
            attempts[h.attempt] = {
                "attempt": h.attempt,
                "started_at": h.at,
                "finished_at": None,
                "outcome": None,
                "reason": None,
            }
            continue
        outcome = _OUTCOMES.get(h.event_type)
        if outcome is None:
            continue
        number = h.attempt
        if number < 1:
            open_ = [n for n, a in attempts.items() if a["outcome"] is None]
            if not open_:
                continue
            number = max(open_)
        entry = attempts.setdefault(
            number,
            {
                "attempt": number,
                "started_at": None,
                "finished_at": None,
                "outcome": None,
                "reason": None,
            },
        )
        if entry["outcome"] is None:
            entry.update(finished_at=h.at, outcome=outcome, reason=h.detail)
    out = []
    for number in sorted(attempts):
        entry = attempts[number]
        seconds = _span(entry["started_at"], entry["finished_at"] or now)
        out.append(JobAttempt(**entry, seconds=seconds))
    return out


class WorkflowView(_Out):
    model_config = _examples(_WORKFLOW_EXAMPLE)

    id: UUID
    name: str
    state: str = Field(examples=["QUEUED", "RUNNING", "SUCCEEDED"])
    queue_position: int | None
    jobs_total: int
    jobs_finished: int
    progress: Progress = Field(description="tile-weighted over the workflow's jobs")
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    last_seq: int = Field(description="log sequence of the workflow's last change")

    @classmethod
    def of(cls, row: dict[str, Any]) -> WorkflowView:
        return cls(
            id=row["workflow_id"],
            progress=Progress.of(row["tiles_done"], row["tiles_total"]),
            **{k: v for k, v in row.items() if k in cls.model_fields and k != "id"},
        )


class WorkflowDetail(WorkflowView):
    model_config = _examples(
        {
            **_WORKFLOW_EXAMPLE,
            "jobs": [_JOB_EXAMPLE],
            "lanes": {"qc": ["mask"], "cells": ["cells", "load"]},
        }
    )

    jobs: list[JobView]
    lanes: dict[str, list[str]] = Field(description="branch -> job ids in FIFO order")

    @classmethod
    def of(cls, row: dict[str, Any]) -> WorkflowDetail:
        jobs = [JobView.of(j) for j in row["jobs"]]
        lanes: dict[str, list[str]] = {}
        for job in jobs:
            lanes.setdefault(job.branch, []).append(job.id)
        return cls(**dict(WorkflowView.of(row)), jobs=jobs, lanes=lanes)


class WorkflowPage(_Out):
    model_config = _examples({"items": [_WORKFLOW_EXAMPLE], "next_cursor": None})

    items: list[WorkflowView]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class AdmissionView(_Out):
    """Who runs now: at most `max_active_tenants` tenants are active, the others wait in line."""

    model_config = _examples(
        {
            "max_active_tenants": 3,
            "active_tenants": 3,
            "waiting_tenants": 2,
            "state": "WAITING",
            "position": 2,
            "since": "2025-01-01T10:00:00Z",
        },
        {
            "max_active_tenants": 3,
            "active_tenants": 1,
            "waiting_tenants": 0,
            "state": "IDLE",
            "position": None,
            "since": None,
        },
    )

    max_active_tenants: int
    active_tenants: int
    waiting_tenants: int
    state: str = Field(description="this tenant: IDLE, WAITING or ACTIVE", examples=["WAITING"])
    position: int | None = Field(description="1-based place in the waiting line, when WAITING")
    since: datetime | None = Field(description="when this tenant's state last changed")

    @classmethod
    def of(cls, row: dict[str, Any], max_active_tenants: int) -> AdmissionView:
        return cls(
            max_active_tenants=max_active_tenants,
            active_tenants=row["active_tenants"],
            waiting_tenants=row["waiting_tenants"],
            state=row["state"] or "IDLE",
            position=row["position"],
            since=row["updated_at"],
        )


class StreamUpdate(_Out):
    """A message of `WS /v1/stream`: the current state of one workflow of the tenant."""

    type: Literal["workflow"] = "workflow"
    seq: int = Field(description="the workflow's last change; resume with ?cursor=<seq>")
    workflow: WorkflowDetail


class StreamReady(_Out):
    """Sent once the missed updates were sent: from here on the stream is live."""

    type: Literal["ready"] = "ready"
    seq: int = Field(description="a cursor that covers everything sent so far")


class Health(_Out):
    model_config = _examples({"status": "ok", "service": "gateway"})

    status: str
    service: str


class Readiness(_Out):
    model_config = _examples(
        {
            "status": "ready",
            "checks": {"nats": True, "postgres": True, "redis": True},
            "rate_limits": "redis",
        }
    )

    status: Literal["ready", "not ready"]
    checks: dict[str, bool]
    rate_limits: Literal["redis", "local", "off"] = Field(
        description="where rate limits are kept now: local buckets while Redis is down"
    )


class CancelResult(_Out):
    """What a cancel request did: the jobs it moved to CANCELLED (already in the log)."""

    model_config = _examples(
        {
            "workflow_id": "0b7f3a52-4f1e-4a7e-9d8c-2f6a1c3e5d7b",
            "job_id": "cells",
            "cancelled": ["cells"],
        }
    )

    workflow_id: UUID
    job_id: str | None
    cancelled: list[str]
