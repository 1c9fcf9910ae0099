"""Response bodies of the REST API and the live stream (requests reuse `WorkflowSpec`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from tessera import progress
from tessera.gateway.joblog import LogLine, job_log
from tessera.gateway.slides import SlideEntry
from tessera.gateway.waiting import Waiting
from tessera.slides.deepzoom import DeepZoomGeometry
from tessera.workflows import JobState, WorkflowState

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
    "progress": {
        "tiles_done": 120,
        "tiles_total": 480,
        "tiles_ended": 0,
        "estimated": False,
        "percent": 25.0,
        "rate": 4.2,
        "eta_s": 85.7,
    },
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
    "progress": {
        "tiles_done": 184,
        "tiles_total": 544,
        "tiles_ended": 0,
        "estimated": True,
        "percent": 33.8,
        "rate": 4.2,
        "eta_s": 85.7,
    },
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
    state: WorkflowState = Field(examples=["QUEUED"])
    event_seq: int = Field(
        description="sequence of WorkflowSubmitted in the event log: the consistency token "
        "(also the X-Tessera-Seq header) that reads send back to see this workflow"
    )


class Progress(_Out):
    """Tiles of a job or workflow (tessera.progress): `percent` is `tiles_done` of
    `tiles_total`, rounded down, so the two always agree."""

    tiles_done: int
    tiles_total: int = Field(
        description="the tiles expected: each job's planned tiles, or before it is planned the "
        "estimate made at submission (then `estimated`); jobs that ended early keep theirs"
    )
    tiles_ended: int = Field(
        default=0,
        description="tiles that will not be done: the rest of jobs that ended early (FAILED, "
        "CANCELLED, SKIPPED); never counted as done, so a cancelled workflow stays short of 100",
    )
    estimated: bool = Field(
        default=False, description="the total holds an estimate for a job not planned yet"
    )
    percent: float = Field(description="tiles_done of tiles_total, rounded down to 0.1")
    rate: float | None = Field(
        default=None, description="while running: tiles/s over the last 30 s of progress"
    )
    eta_s: float | None = Field(
        default=None, description="while running: seconds until the tiles left are done at `rate`"
    )

    @classmethod
    def of(cls, row: dict[str, Any], expected: int, *, complete: bool, running: bool) -> Progress:
        done, ended = row["tiles_done"], row["tiles_ended"]
        rate = row["rate"] if running else None
        return cls(
            tiles_done=done,
            tiles_total=expected,
            tiles_ended=ended,
            estimated=row["estimated"],
            percent=progress.percent(done, expected, complete=complete),
            rate=rate,
            eta_s=progress.eta_s(progress.remaining(done, expected, ended), rate),
        )


class ThroughputPoint(_Out):
    at: datetime = Field(description="the start of the step")
    rate: float = Field(description="tiles/s over the step")

    @classmethod
    def series(cls, points: list[progress.Point]) -> list[ThroughputPoint]:
        return [cls(at=p.at, rate=p.rate) for p in points]


class JobTransition(_Out):
    seq: int = Field(description="log sequence of the event")
    event_type: str = Field(examples=["JobStarted"])
    state: JobState = Field(examples=["RUNNING"])
    attempt: int
    detail: str | None
    at: datetime


_DERIVED = ("id", "waiting")  # JobView fields that are not read model columns


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
    state: JobState = Field(examples=["PENDING", "RUNNING", "SUCCEEDED"])
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
    waiting: Waiting | None = Field(
        default=None,
        description="a PENDING job: what it waits for (on a workflow's and a job's GET; the live "
        "stream leaves it out, since it changes with other jobs and tenants)",
    )

    @classmethod
    def of(cls, row: dict[str, Any], waiting: Waiting | None = None) -> JobView:
        state = row["state"]
        return cls(
            id=row["job_id"],
            progress=Progress.of(
                row,
                row["tiles_expected"],
                complete=state == JobState.SUCCEEDED,
                running=state == JobState.RUNNING,
            ),
            waiting=waiting,
            **{k: v for k, v in row.items() if k in cls.model_fields and k not in _DERIVED},
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
            "throughput": [
                {"at": "2025-01-01T10:00:06Z", "rate": 3.5},
                {"at": "2025-01-01T10:00:07Z", "rate": 4.0},
            ],
            "log": [
                {"at": _AT, "kind": "submitted", "attempt": 0, "text": "submitted", "until": None},
                {
                    "at": "2025-01-01T10:00:05Z",
                    "kind": "started",
                    "attempt": 1,
                    "text": "started attempt 1",
                    "until": None,
                },
                {
                    "at": "2025-01-01T10:00:06Z",
                    "kind": "planned",
                    "attempt": 1,
                    "text": "planned 480 tiles",
                    "until": None,
                },
            ],
        }
    )

    history: list[JobTransition]
    attempts: list[JobAttempt]
    timings: JobTimings
    throughput: list[ThroughputPoint] = Field(
        description="tiles/s over the job's progress so far, at most 120 equal steps"
    )
    log: list[LogLine] = Field(description="the job's events in words, in log order")

    @classmethod
    def of(
        cls, row: dict[str, Any], waiting: Waiting | None = None, now: datetime | None = None
    ) -> JobDetail:
        now = now or datetime.now(UTC)
        base = JobView.of(row, waiting)
        history = [JobTransition(**h) for h in row["history"]]
        end = base.finished_at or now
        timings = JobTimings(
            queued_seconds=_span(base.created_at, base.started_at or end),
            running_seconds=_span(base.started_at, end),
            total_seconds=_span(base.created_at, end),
        )
        samples = row["samples"]
        points = (
            progress.series(
                [(s["at"], s["delta"]) for s in samples],
                samples[0]["at"],
                base.finished_at or max(now, samples[-1]["at"]),
            )
            if samples
            else []
        )
        return cls(
            **dict(base),
            history=history,
            attempts=attempts_of(history, now),
            timings=timings,
            throughput=ThroughputPoint.series(points),
            log=job_log(row, row["history"], samples),
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
    state: WorkflowState = Field(examples=["QUEUED", "RUNNING", "SUCCEEDED"])
    queue_position: int | None
    jobs_total: int
    jobs_finished: int
    progress: Progress = Field(
        description="tiles over all its jobs, each weighed by its expected tiles (planned, or "
        "estimated until planned); `rate` sums its running jobs'"
    )
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    last_seq: int = Field(description="log sequence of the workflow's last change")

    @classmethod
    def of(cls, row: dict[str, Any]) -> WorkflowView:
        state = row["state"]
        return cls(
            id=row["workflow_id"],
            progress=Progress.of(
                row,
                row["tiles_total"],
                complete=state == WorkflowState.SUCCEEDED,
                running=state == WorkflowState.RUNNING,
            ),
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
    def of(cls, row: dict[str, Any], waiting: dict[str, Waiting] | None = None) -> WorkflowDetail:
        reasons = waiting or {}
        jobs = [JobView.of(j, reasons.get(j["job_id"])) for j in row["jobs"]]
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


class TenantThroughput(_Out):
    """The tiles/s of this tenant's jobs together over the last minutes (its own work only)."""

    model_config = _examples(
        {
            "since": "2025-01-01T09:50:00Z",
            "until": _AT,
            "step_s": 5.0,
            "tiles": 2400,
            "points": [{"at": "2025-01-01T09:50:00Z", "rate": 4.0}],
        }
    )

    since: datetime
    until: datetime
    step_s: float = Field(description="the length of each point's step")
    tiles: int = Field(description="tiles done in the whole span")
    points: list[ThroughputPoint]


class StreamUpdate(_Out):
    """A message of `WS /v1/stream`: one workflow of the tenant changed.

    `workflow` is its current state (without jobs); `jobs` are those of its jobs that changed
    after sequence `jobs_since`, each with its own `last_seq`: all of them (`jobs_since` 0) while
    the client catches up after connecting, only the changed ones once it is live. A client that
    holds the workflow's jobs replaces those that come with a higher `last_seq` and keeps the
    others: a 500-job workflow whose running job progresses sends that one job, not 500.
    """

    type: Literal["workflow"] = "workflow"
    seq: int = Field(description="the workflow's last change; resume with ?cursor=<seq>")
    workflow: WorkflowView
    jobs: list[JobView] = Field(description="the jobs that changed after `jobs_since`")
    jobs_since: int = Field(ge=0, description="the stream position the jobs are relative to")


class StreamReady(_Out):
    """Sent once the missed updates were sent: from here on the stream is live."""

    type: Literal["ready"] = "ready"
    seq: int = Field(description="a cursor that covers everything sent so far")


_SLIDE_EXAMPLE: dict[str, Any] = {
    "slide": "CMU-1-Small-Region.svs",
    "name": "CMU-1-Small-Region.svs",
    "size_bytes": 1938955,
    "width": 2220,
    "height": 2967,
    "levels": 1,
    "level_dimensions": [[2220, 2967]],
    "mpp": 0.499,
    "vendor": "aperio",
    "format": "aperio",
    "associated_images": ["label", "macro", "thumbnail"],
    "objective_power": 20.0,
    "uploaded": False,
}


class SlideView(_Out):
    """A slide in the data root that a slide reader opens (any format of `GET /v1/slides`)."""

    model_config = _examples(
        _SLIDE_EXAMPLE,
        {
            **_SLIDE_EXAMPLE,
            "slide": "uploads/7c0a4b8e-1111-4a4a-9a9a-000000000001/biopsy-17.svs",
            "name": "biopsy-17.svs",
            "uploaded": True,
        },
    )

    slide: str = Field(description="the reference a workflow's job names (path in the data root)")
    name: str = Field(description="the file name")
    size_bytes: int
    width: int = Field(description="level-0 width in pixels")
    height: int = Field(description="level-0 height in pixels")
    levels: int = Field(description="pyramid levels in the file")
    level_dimensions: list[list[int]] = Field(description="[width, height] of each level")
    mpp: float | None = Field(description="µm per level-0 pixel, when the file says")
    vendor: str | None = Field(examples=["aperio"])
    format: str | None = Field(
        description="what the slide is, as its reader names it",
        examples=["aperio", "dicom", "ome-tiff"],
    )
    associated_images: list[str] = Field(
        description="images the file holds beside the slide, at `.../associated/{image}` (JPEG)",
        examples=[["label", "thumbnail"]],
    )
    objective_power: float | None
    uploaded: bool = Field(description="an upload of this tenant (else shared lab data)")

    @classmethod
    def of(cls, entry: SlideEntry) -> SlideView:
        info = entry.info
        return cls(
            slide=info.slide,
            name=PurePosixPath(info.slide).name,
            size_bytes=entry.size_bytes,
            width=info.width,
            height=info.height,
            levels=info.level_count,
            level_dimensions=[[w, h] for w, h in info.level_dimensions],
            mpp=info.mpp_x,
            vendor=info.vendor,
            format=info.format,
            associated_images=list(info.associated_images),
            objective_power=info.objective_power,
            uploaded=entry.uploaded,
        )


class SlideUploaded(SlideView):
    """The uploaded slide, with the consistency token of the upload."""

    seq: int = Field(
        description="the log's last sequence when the file was stored (also X-Tessera-Seq): "
        "an upload appends no event and is readable at once (slides are read from disk); a read "
        "that sends the token back sees at least what the log held at the upload"
    )


class SlidePage(_Out):
    model_config = _examples({"items": [_SLIDE_EXAMPLE], "next_cursor": None})

    items: list[SlideView]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class DeepZoomDescriptor(_Out):
    """A Deep Zoom image for a viewer such as OpenSeadragon, the `.dzi` XML's content as JSON.

    Level `levels - 1` is full resolution and each level below halves it (rounding up); tiles
    are `tile_size` squares plus `overlap` pixels on each side that has a neighbour. Slide and
    overlay descriptors of one slide agree in everything but `format` and `tile_url`.
    """

    model_config = _examples(
        {
            "width": 2220,
            "height": 2967,
            "tile_size": 254,
            "overlap": 1,
            "format": "jpeg",
            "levels": 13,
            "level_dimensions": [[1, 1], [2, 2], [3, 3], [5, 6], [9, 12], [18, 24], [35, 47],
                                 [70, 93], [139, 186], [278, 371], [555, 742], [1110, 1484],
                                 [2220, 2967]],
            "level_tiles": [[1, 1], [1, 1], [1, 1], [1, 1], [1, 1], [1, 1], [1, 1], [1, 1],
                            [1, 1], [2, 2], [3, 3], [5, 6], [9, 12]],
            "mpp": 0.499,
            "tile_url": "/v1/slides/CMU-1-Small-Region.svs/dzi_files/{level}/{col}_{row}.jpeg",
        }
    )  # fmt: skip

    width: int = Field(description="level-0 width in pixels")
    height: int = Field(description="level-0 height in pixels")
    tile_size: int
    overlap: int
    format: Literal["jpeg", "png"]
    levels: int
    level_dimensions: list[list[int]] = Field(description="[width, height] of each level")
    level_tiles: list[list[int]] = Field(description="[columns, rows] of tiles per level")
    mpp: float | None = Field(description="µm per level-0 pixel, for a scale bar")
    tile_url: str = Field(
        description="path of a tile, with {level}, {col} and {row} to fill in; "
        "send X-User-ID with every tile request"
    )

    @classmethod
    def of(
        cls, geometry: DeepZoomGeometry, image_format: Literal["jpeg", "png"], mpp: float | None,
        tile_url: str,
    ) -> DeepZoomDescriptor:  # fmt: skip
        return cls(
            width=geometry.width,
            height=geometry.height,
            tile_size=geometry.tile_size,
            overlap=geometry.overlap,
            format=image_format,
            levels=geometry.level_count,
            level_dimensions=[[w, h] for w, h in geometry.level_dimensions],
            level_tiles=[[c, r] for c, r in geometry.level_tiles],
            mpp=mpp,
            tile_url=tile_url,
        )


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
            "seq": 57,
        }
    )

    workflow_id: UUID
    job_id: str | None
    cancelled: list[str]
    seq: int = Field(
        description="the log position after the cancellation: the consistency token (also the "
        "X-Tessera-Seq header) that reads send back to see it"
    )


class RerunResult(_Out):
    """What a re-run did: the jobs back to PENDING (already in the log) with a new attempt each."""

    model_config = _examples(
        {
            "workflow_id": "0b7f3a52-4f1e-4a7e-9d8c-2f6a1c3e5d7b",
            "job_id": "cells",
            "rerun": ["cells", "load"],
            "seq": 61,
        }
    )

    workflow_id: UUID
    job_id: str
    rerun: list[str] = Field(description="the job and the jobs its end had SKIPPED")
    seq: int = Field(
        description="the log position after the re-run: the consistency token (also the "
        "X-Tessera-Seq header) that reads send back to see it"
    )


class AuthDescriptor(_Out):
    """What credential this gateway wants, so that a client knows what to ask its user for."""

    model_config = _examples(
        {"mode": "header", "tenant_header": "X-User-ID", "tenant": None, "jwt": None},
        {
            "mode": "jwt",
            "tenant_header": "X-User-ID",
            "tenant": _WID,
            "jwt": {
                "issuer": "https://login.example.org/realms/lab",
                "audience": "tessera",
                "tenant_claim": "tenant_id",
            },
        },
    )

    mode: Literal["header", "token", "jwt"] = Field(
        description="`header`: send your tenant's UUID as X-User-ID, nothing is checked; "
        "`token`: `Authorization: Bearer` with an API token (`tessera tenants token create`); "
        "`jwt`: `Authorization: Bearer` with an access token of the issuer below"
    )
    tenant_header: str = Field(description="the header that names the tenant")
    tenant: UUID | None = Field(
        default=None,
        description="token and jwt modes: the tenant of the credential this request carried, "
        "if it carried a valid one",
    )
    jwt: JwtHints | None = Field(default=None, description="jwt mode: where tokens come from")


class JwtHints(_Out):
    issuer: str
    audience: str
    tenant_claim: str = Field(description="the claim that must name the tenant's UUID")


AuthDescriptor.model_rebuild()


class CellView(_Out):
    """One cell of a finished cell segmentation, in level-0 pixels of its slide."""

    model_config = _examples(
        {
            "id": 4294967311,
            "area_px": 212.0,
            "area_um2": 52.79,
            "centroid": [1043.6, 877.2],
            "bbox": [1035.0, 869.0, 1052.0, 886.0],
            "polygon": [[1035.0, 877.5], [1043.5, 869.0], [1052.0, 877.5], [1043.5, 886.0],
                        [1035.0, 877.5]],
        }
    )  # fmt: skip

    id: int = Field(description="the cell's id in the cell table (cells.parquet, GeoJSON)")
    area_px: float = Field(description="area in level-0 pixels²")
    area_um2: float | None = Field(description="area in µm², when the slide's pixel size is known")
    centroid: tuple[float, float] = Field(description="(x, y)")
    bbox: tuple[float, float, float, float] = Field(description="(x0, y0, x1, y1)")
    polygon: list[tuple[float, float]] = Field(description="the outline, a closed ring of (x, y)")


class CellCount(_Out):
    """How many cells have their centroid in a box (level-0 pixels, x0 <= x < x1, y0 <= y < y1)."""

    model_config = _examples({"count": 1834, "box": [0.0, 0.0, 2048.0, 2048.0]})

    count: int
    box: tuple[float, float, float, float] = Field(description="(x0, y0, x1, y1) as asked")
