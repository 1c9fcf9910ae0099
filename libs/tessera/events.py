"""The event catalogue: the log is the source of truth, everything else is derived from it.

Events are frozen pydantic models with a `type` discriminator and a `version`. Stored events are
decoded through `decode_event`, which first runs the upcasters registered for older versions so
that handlers only ever see the current shape.

Subjects: `<ns>.evt.<tenant>.<workflow>.<type>` for workflow and job events, and
`<ns>.evt.<tenant>._tenant.<type>` for the tenant aggregate (admission's decisions).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args
from uuid import UUID, uuid4, uuid5

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from tessera.workflows import WorkflowSpec, WorkflowState

TENANT_AGGREGATE = "_tenant"
DECISION_NAMESPACE = UUID("5f0c3a52-7a43-4c55-9a3e-2b8f3d1e6c17")


def utcnow() -> datetime:
    return datetime.now(UTC)


def decision_id(kind: str, *identity: object) -> UUID:
    """A deterministic event id for a decider's decision, derived from what was decided.

    Two replicas (or a replay after a crash) that decide the same thing, e.g. attempt 2 of job
    `cells` of workflow `w`, produce the same id and so the same `Nats-Msg-Id`: JetStream drops
    the second copy. `identity` must name the decision, not its cause.
    """
    return uuid5(DECISION_NAMESPACE, "/".join((kind, *map(str, identity))))


def in_round(round_: int) -> tuple[str, ...]:
    """The part of a decision's identity that tells re-run rounds apart (`JobRerun.round`).

    Round 0 adds nothing, so decisions of a workflow that was never re-run keep the ids they
    always had; a later round's JobSkipped, JobCancelled, JobFailed, WorkflowAdmitted and
    WorkflowFinished are new decisions, not repeats for JetStream to drop."""
    return (f"round-{round_}",) if round_ else ()


ROUND_FIELD = Field(
    default=0,
    ge=0,
    description="the workflow's re-run round it belongs to (0 until a JobRerun); stored events "
    "of before re-runs have none and read as 0",
)


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    version: int = 1
    event_id: UUID = Field(default_factory=uuid4)
    occurred_at: datetime = Field(default_factory=utcnow)
    tenant_id: UUID

    @property
    def aggregate(self) -> str:
        """The subject token of the aggregate this event belongs to."""
        return TENANT_AGGREGATE


class WorkflowEvent(Event):
    workflow_id: UUID

    @property
    def aggregate(self) -> str:
        return str(self.workflow_id)


class JobEvent(WorkflowEvent):
    job_id: str


# --- workflow lifecycle -------------------------------------------------------------------


class WorkflowSubmitted(WorkflowEvent):
    type: Literal["WorkflowSubmitted"] = "WorkflowSubmitted"
    spec: WorkflowSpec
    estimates: dict[str, int] = Field(
        default_factory=dict,
        description="job id -> the tiles it is expected to plan, estimated by the gateway from "
        "its parameters and slide (tessera.progress.estimate_tiles); absent for a job it could "
        "not tell, and in events of before estimates",
    )


class WorkflowQueued(WorkflowEvent):
    """Admission holds the workflow back: its tenant is waiting for a slot."""

    type: Literal["WorkflowQueued"] = "WorkflowQueued"
    position: int = Field(ge=1, description="1-based place of the tenant in the waiting line")
    round: int = ROUND_FIELD


class WorkflowAdmitted(WorkflowEvent):
    type: Literal["WorkflowAdmitted"] = "WorkflowAdmitted"
    round: int = ROUND_FIELD


class WorkflowFinished(WorkflowEvent):
    type: Literal["WorkflowFinished"] = "WorkflowFinished"
    state: WorkflowState
    round: int = ROUND_FIELD


class JobRerun(WorkflowEvent):
    """The branch-sequencer put a FAILED or CANCELLED job back to PENDING at the user's request,
    with the jobs its end made SKIPPED (its dependants and the rest of its lane), decided like a
    cancel. Each keeps its attempts: the next start is attempt + 1, with outputs of its own.

    A workflow that had finished is open again (`spec` set): admission admits it anew and the
    services that forgot it on `WorkflowFinished` take it up from here."""

    type: Literal["JobRerun"] = "JobRerun"
    job_id: str = Field(description="the job the user asked to re-run")
    jobs: list[str] = Field(description="every job that goes back to PENDING, job_id first")
    attempts: dict[str, int] = Field(description="attempts each of them had so far")
    round: int = Field(ge=1, description="the workflow's re-runs so far, this one included")
    spec: WorkflowSpec | None = Field(
        default=None, description="the submission, when the workflow had finished"
    )


# --- tenant aggregate (admission) ---------------------------------------------------------


class TenantQueued(Event):
    type: Literal["TenantQueued"] = "TenantQueued"
    position: int = Field(ge=1)


class TenantActivated(Event):
    type: Literal["TenantActivated"] = "TenantActivated"


class TenantReleased(Event):
    type: Literal["TenantReleased"] = "TenantReleased"


class TenantDequeued(Event):
    """The tenant left the waiting line without a slot: every workflow it waited for finished
    (cancelled) before admission."""

    type: Literal["TenantDequeued"] = "TenantDequeued"


# --- jobs ---------------------------------------------------------------------------------


class JobStarted(JobEvent):
    type: Literal["JobStarted"] = "JobStarted"
    attempt: int = Field(default=1, ge=1)


class JobPlanned(JobEvent):
    """Version 2: `grid.mask_source` is relative to the results root (version 1 stored the
    server's absolute path; upcast on read)."""

    type: Literal["JobPlanned"] = "JobPlanned"
    version: int = 2
    attempt: int = Field(default=1, ge=1)
    tiles_total: int = Field(ge=0)
    tissue_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    grid: dict[str, Any] = Field(default_factory=dict, description="tile size, halo, level, shape")


class JobProgressed(JobEvent):
    type: Literal["JobProgressed"] = "JobProgressed"
    attempt: int = Field(default=1, ge=1)
    tiles_done: int = Field(ge=0)
    tiles_total: int = Field(ge=0)


class JobRetryScheduled(JobEvent):
    type: Literal["JobRetryScheduled"] = "JobRetryScheduled"
    attempt: int = Field(ge=1, description="the attempt that failed")
    retry_at: datetime
    reason: str


class JobSucceeded(JobEvent):
    """Version 2: `summary.mask_source` is relative to the results root (version 1 stored the
    server's absolute path; upcast on read)."""

    type: Literal["JobSucceeded"] = "JobSucceeded"
    version: int = 2
    attempt: int = Field(default=1, ge=1)
    summary: dict[str, Any] = Field(default_factory=dict)


class JobAttemptFailed(JobEvent):
    """The data plane reports that one attempt failed; the branch-sequencer then decides between
    JobRetryScheduled and JobFailed. `retryable=False` (e.g. an unreadable slide) fails the job
    whatever retries remain."""

    type: Literal["JobAttemptFailed"] = "JobAttemptFailed"
    attempt: int = Field(default=1, ge=1)
    reason: str
    retryable: bool = True


class JobFailed(JobEvent):
    """The job failed for good, decided by the branch-sequencer once no retry is left.

    Version 2 dropped `final` (always True once attempt failures became JobAttemptFailed);
    stored version-1 events are upcast on read."""

    type: Literal["JobFailed"] = "JobFailed"
    version: int = 2
    attempt: int = Field(default=1, ge=1)
    reason: str


class JobCancelled(JobEvent):
    type: Literal["JobCancelled"] = "JobCancelled"
    reason: str = "cancelled by user"
    round: int = ROUND_FIELD


class JobSkipped(JobEvent):
    type: Literal["JobSkipped"] = "JobSkipped"
    reason: str
    round: int = ROUND_FIELD


AnyEvent = Annotated[
    WorkflowSubmitted
    | WorkflowQueued
    | WorkflowAdmitted
    | WorkflowFinished
    | JobRerun
    | TenantQueued
    | TenantActivated
    | TenantReleased
    | TenantDequeued
    | JobStarted
    | JobPlanned
    | JobProgressed
    | JobRetryScheduled
    | JobSucceeded
    | JobAttemptFailed
    | JobFailed
    | JobCancelled
    | JobSkipped,
    Field(discriminator="type"),
]
EventAdapter: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


def event_types(union: object) -> frozenset[str]:
    """The `type` names of the event classes in a union (a decider's `Decision` alias), so a set
    of names is derived from the type rather than written out beside it."""
    classes = get_args(union) or (union,)
    return frozenset(cls.model_fields["type"].default for cls in classes)


# --- upcasting ----------------------------------------------------------------------------

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function that turns a stored `event_type` at `from_version` into version+1."""

    def register(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


def upcast(raw: dict[str, Any]) -> dict[str, Any]:
    """Apply registered upcasters until no further one matches."""
    while (fn := _UPCASTERS.get((raw.get("type", ""), int(raw.get("version", 1))))) is not None:
        raw = fn(dict(raw))
        raw["version"] = int(raw.get("version", 1)) + 1
    return raw


@upcaster("JobFailed", 1)
def _job_failed_without_final(raw: dict[str, Any]) -> dict[str, Any]:
    raw.pop("final", None)
    return raw


def _relative_mask_source(raw: dict[str, Any], field: str) -> dict[str, Any]:
    """`raw[field]["mask_source"]` from `<results root>/<tenant>/<workflow>/<job>/attempt-<n>`
    to the part from the tenant on: the reused mask is always the same workflow's job."""
    details = raw.get(field)
    source = details.get("mask_source") if isinstance(details, dict) else None
    if isinstance(source, str):
        at = source.find(f"{raw.get('tenant_id')}/{raw.get('workflow_id')}/")
        if at > 0:
            raw[field] = {**details, "mask_source": source[at:]}  # type: ignore[dict-item]
    return raw


@upcaster("JobPlanned", 1)
def _job_planned_relative_mask(raw: dict[str, Any]) -> dict[str, Any]:
    return _relative_mask_source(raw, "grid")


@upcaster("JobSucceeded", 1)
def _job_succeeded_relative_mask(raw: dict[str, Any]) -> dict[str, Any]:
    return _relative_mask_source(raw, "summary")


def decode_event(data: bytes | str | dict[str, Any]) -> AnyEvent:
    """Parse a stored event (JSON bytes, str or dict), upcasting older versions first."""
    if isinstance(data, dict):
        return EventAdapter.validate_python(upcast(data))
    return EventAdapter.validate_python(upcast(json.loads(data)))


def encode_event(event: Event) -> bytes:
    return event.model_dump_json().encode()


def subject_for(event: Event, ns: str) -> str:
    """The subject an event is appended on."""
    return event_subject(ns, event.tenant_id, event.aggregate, event.type)


def event_subject(ns: str, tenant_id: UUID | str, aggregate: object, event_type: str) -> str:
    """The subject of the events of one type of one aggregate."""
    return f"{ns}.evt.{tenant_id}.{aggregate}.{event_type}"


def aggregate_subjects(ns: str, tenant_id: UUID | str, aggregate: str) -> str:
    """Wildcard subject that matches every event of one aggregate."""
    return f"{ns}.evt.{tenant_id}.{aggregate}.*"
