"""Response bodies of the REST API (requests reuse `tessera.workflows.WorkflowSpec`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from tessera.projector.domain import percent


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class WorkflowAccepted(_Out):
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
    seq: int
    event_type: str
    state: str
    attempt: int
    detail: str | None
    at: datetime


class JobView(_Out):
    workflow_id: UUID
    id: str
    type: str
    branch: str
    position: int
    slide: str | None
    params: dict[str, Any]
    depends_on: list[str]
    retries: int
    state: str
    attempt: int
    progress: Progress
    tissue_fraction: float | None
    reason: str | None
    summary: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    history: list[JobTransition] | None = None

    @classmethod
    def of(cls, row: dict[str, Any]) -> JobView:
        return cls(
            id=row["job_id"],
            progress=Progress.of(row["tiles_done"], row["tiles_total"]),
            **{k: v for k, v in row.items() if k in cls.model_fields and k != "id"},
        )


class WorkflowView(_Out):
    id: UUID
    name: str
    state: str
    queue_position: int | None
    jobs_total: int
    jobs_finished: int
    progress: Progress
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime

    @classmethod
    def of(cls, row: dict[str, Any]) -> WorkflowView:
        return cls(
            id=row["workflow_id"],
            progress=Progress.of(row["tiles_done"], row["tiles_total"]),
            **{k: v for k, v in row.items() if k in cls.model_fields and k != "id"},
        )


class WorkflowDetail(WorkflowView):
    jobs: list[JobView]
    lanes: dict[str, list[str]] = Field(description="branch -> job ids in FIFO order")

    @classmethod
    def of(cls, row: dict[str, Any]) -> WorkflowDetail:
        jobs = [JobView.of(j) for j in row["jobs"]]
        lanes: dict[str, list[str]] = {}
        for job in jobs:
            lanes.setdefault(job.branch, []).append(job.id)
        base = WorkflowView.of(row).model_dump()
        return cls(**base, jobs=jobs, lanes=lanes)


class WorkflowPage(_Out):
    items: list[WorkflowView]
    next_cursor: str | None
