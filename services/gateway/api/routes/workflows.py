"""/v1/workflows: submit, list, get."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID, uuid4

import asyncpg
from fastapi import APIRouter, Body, HTTPException, Query, Response
from pydantic import AwareDatetime

from tessera.bus import Bus
from tessera.errors import NotFound
from tessera.events import WorkflowSubmitted, event_subject
from tessera.gateway import idempotency
from tessera.gateway.api.deps import (
    BusDep,
    PoolDep,
    ProjectionDep,
    ReadDbDep,
    ReadPoolDep,
    SettingsDep,
    TenantDep,
)
from tessera.gateway.api.errors import CONFLICT, INVALID, NOT_FOUND, WRITTEN, ErrorBody
from tessera.gateway.api.models import (
    CancelResult,
    WorkflowAccepted,
    WorkflowDetail,
    WorkflowPage,
    WorkflowView,
)
from tessera.gateway.cancellation import request_cancel
from tessera.gateway.consistency import give_token
from tessera.gateway.idempotency import IdempotencyKey
from tessera.gateway.settings import GatewaySettings
from tessera.gateway.slides import check_slides
from tessera.gateway.waiting import read_waiting
from tessera.progress import SlideSize, estimate_workflow
from tessera.readmodel import listing, queries
from tessera.workflows import WorkflowSpec, WorkflowState, validate_workflow

router = APIRouter(prefix="/workflows", tags=["workflows"])


@router.post(
    "",
    status_code=202,
    response_model=WorkflowAccepted,
    responses={
        202: WRITTEN,
        200: {**WRITTEN, "description": "a retry (same Idempotency-Key and body): the original"},
        409: {
            "model": ErrorBody,
            "description": "the Idempotency-Key was used for another request body",
        },
        **INVALID,
    },
)
async def submit_workflow(
    spec: Annotated[WorkflowSpec, Body()],
    tenant: TenantDep,
    settings: SettingsDep,
    bus: BusDep,
    pool: PoolDep,
    response: Response,
    at: idempotency.Now,
    key: IdempotencyKey = None,
) -> WorkflowAccepted:
    """Validate a workflow (DAG, job types, parameters, slides) and append `WorkflowSubmitted`.

    A slide must be shared lab data or one of this tenant's uploads; another tenant's upload is
    refused like a missing file. Nothing is appended when any check fails; a 202 means the event
    is in the log, and `event_seq` (also the `X-Tessera-Seq` header) is its consistency token:
    reads that send it back see the workflow. `GET /v1/workflows/{id}` sees it even without the
    token. Submissions have their own, stricter rate limit.

    With an `Idempotency-Key`, a retry of the same body within the retention answers the
    original workflow with 200 (and appends nothing); the same key with another body is 409.
    Keys are per tenant.
    """
    spec = validate_workflow(spec)
    infos = await asyncio.to_thread(check_slides, spec, settings.data_root, tenant)
    sizes = {ref: SlideSize(info.width, info.height, info.mpp_x) for ref, info in infos.items()}
    estimates = estimate_workflow(spec, sizes)
    if key is None:
        event = WorkflowSubmitted(
            tenant_id=tenant, workflow_id=uuid4(), spec=spec, estimates=estimates
        )
        seq = await bus.append(event)
        workflow_id = event.workflow_id
    else:
        workflow_id, seq, first = await submit_once(
            spec, estimates, tenant, key, at, settings, bus, pool
        )
        if not first:
            response.status_code = 200
    return WorkflowAccepted(
        workflow_id=workflow_id,
        state=WorkflowState.QUEUED.value,
        event_seq=give_token(response, seq),
    )


async def submit_once(
    spec: WorkflowSpec,
    estimates: dict[str, int],
    tenant: UUID,
    key: str,
    at: datetime,
    settings: GatewaySettings,
    bus: Bus,
    pool: asyncpg.Pool,
) -> tuple[UUID, int, bool]:
    """The workflow a key stands for, its submission's sequence, and whether this request made
    it; appends WorkflowSubmitted unless the log has it already (tessera.gateway.idempotency)."""
    digest = idempotency.request_hash("POST /v1/workflows", spec.model_dump(mode="json"))
    retention = timedelta(seconds=settings.idempotency_retention_s)
    async with pool.acquire() as conn:
        claim = await idempotency.claim(
            conn, tenant, key, digest, str(uuid4()), at=at, retention=retention
        )
    workflow_id, seq = UUID(claim.resource), claim.seq
    if seq is None and not claim.first:  # the first try is in flight, or went before recording
        subject = event_subject(bus.names.ns, tenant, workflow_id, "WorkflowSubmitted")
        seq = await bus.last_sequence_of(subject)
    if seq is None:
        event = WorkflowSubmitted(
            event_id=idempotency.event_id(tenant, key, claim.resource),
            tenant_id=tenant,
            workflow_id=workflow_id,
            spec=spec,
            estimates=estimates,
        )
        seq = await bus.append(event)  # a retry racing the first try: JetStream keeps one
    if claim.seq is None:
        async with pool.acquire() as conn:
            await idempotency.record(conn, tenant, key, seq)
    return workflow_id, seq, claim.first


@router.get("", response_model=WorkflowPage, responses=INVALID)
async def list_workflows(
    tenant: TenantDep,
    db: ReadDbDep,
    settings: SettingsDep,
    state: Annotated[
        WorkflowState | None, Query(description="only workflows in this state")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="a workflow id, the start of one, or a piece of the name (any case)",
        ),
    ] = None,
    sort: Annotated[listing.Sort, Query(description="what the list is ordered by")] = "created",
    order: Annotated[
        listing.Order | None,
        Query(description="default: newest first for created, A-Z for name and state"),
    ] = None,
    submitted_after: Annotated[
        AwareDatetime | None, Query(description="submitted at or after (with a time zone)")
    ] = None,
    submitted_before: Annotated[
        AwareDatetime | None, Query(description="submitted before (with a time zone)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=500, description="next_cursor of a page")
    ] = None,
) -> WorkflowPage:
    """The tenant's workflows a page at a time: searched, filtered by state and time of
    submission, and sorted (ties by id); `next_cursor` continues the same query."""
    if submitted_after and submitted_before and submitted_after >= submitted_before:
        raise HTTPException(400, "submitted_after must be before submitted_before")
    query = listing.WorkflowQuery(
        limit=min(limit, settings.page_size_max),
        state=state.value if state else None,
        q=q,
        sort=sort,
        order=order,
        submitted_after=submitted_after,
        submitted_before=submitted_before,
        cursor=cursor,
    )
    try:
        rows, next_cursor = await queries.list_workflows(db, tenant, query)
    except listing.BadCursor as exc:
        raise HTTPException(400, f"cursor: {exc}") from None
    return WorkflowPage(items=[WorkflowView.of(r) for r in rows], next_cursor=next_cursor)


@router.get("/{workflow_id}", response_model=WorkflowDetail, responses={**NOT_FOUND, **INVALID})
async def get_workflow(
    workflow_id: UUID,
    tenant: TenantDep,
    db: ReadDbDep,
    projection: ProjectionDep,
    settings: SettingsDep,
) -> WorkflowDetail:
    """One workflow with its jobs, lanes and progress; each PENDING job says what it waits for.

    A workflow submitted a moment ago is answered, not 404, even without a consistency token:
    the gateway finds its submission in the log and waits for the read models to hold it."""
    row = await queries.get_workflow(db, tenant, workflow_id)
    if row is None and await projection.submitted(tenant, workflow_id, settings.read_wait_s):
        row = await queries.get_workflow(db, tenant, workflow_id)
    if row is None:
        raise NotFound("workflow", str(workflow_id))
    now = datetime.now(UTC)
    waiting = await read_waiting(db, tenant, row, max_workers=settings.max_workers, now=now)
    return WorkflowDetail.of(row, waiting)


@router.post(
    "/{workflow_id}/cancel",
    response_model=CancelResult,
    responses={200: WRITTEN, **NOT_FOUND, **CONFLICT, **INVALID},
)
async def cancel_workflow(
    workflow_id: UUID, tenant: TenantDep, bus: BusDep, pool: ReadPoolDep, response: Response
) -> CancelResult:
    """Cancel every job of the workflow that has not ended, running ones included.

    409 once the workflow has finished. `seq` (also `X-Tessera-Seq`) is the consistency token.
    """
    reply = await request_cancel(bus, pool, tenant, workflow_id, None)
    return CancelResult(
        workflow_id=workflow_id,
        job_id=None,
        cancelled=reply.cancelled,
        seq=give_token(response, reply.seq),
    )
