"""/v1/workflows: submit, list, get."""

from __future__ import annotations

import asyncio
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Body, HTTPException, Query, Response

from tessera.errors import NotFound
from tessera.events import WorkflowSubmitted
from tessera.gateway.api.deps import (
    BusDep,
    ProjectionDep,
    ReadDbDep,
    ReadPoolDep,
    SettingsDep,
    TenantDep,
)
from tessera.gateway.api.errors import CONFLICT, INVALID, NOT_FOUND, WRITTEN
from tessera.gateway.api.models import (
    CancelResult,
    WorkflowAccepted,
    WorkflowDetail,
    WorkflowPage,
    WorkflowView,
)
from tessera.gateway.cancellation import request_cancel
from tessera.gateway.consistency import give_token
from tessera.gateway.slides import check_slides
from tessera.readmodel import queries
from tessera.workflows import WorkflowSpec, WorkflowState, validate_workflow

router = APIRouter(prefix="/workflows", tags=["workflows"])


@router.post(
    "", status_code=202, response_model=WorkflowAccepted, responses={202: WRITTEN, **INVALID}
)
async def submit_workflow(
    spec: Annotated[WorkflowSpec, Body()],
    tenant: TenantDep,
    settings: SettingsDep,
    bus: BusDep,
    response: Response,
) -> WorkflowAccepted:
    """Validate a workflow (DAG, job types, parameters, slides) and append `WorkflowSubmitted`.

    A slide must be shared lab data or one of this tenant's uploads; another tenant's upload is
    refused like a missing file. Nothing is appended when any check fails; a 202 means the event
    is in the log, and `event_seq` (also the `X-Tessera-Seq` header) is its consistency token:
    reads that send it back see the workflow. `GET /v1/workflows/{id}` sees it even without the
    token. Submissions have their own, stricter rate limit.
    """
    spec = validate_workflow(spec)
    await asyncio.to_thread(check_slides, spec, settings.data_root, tenant)
    event = WorkflowSubmitted(tenant_id=tenant, workflow_id=uuid4(), spec=spec)
    seq = give_token(response, await bus.append(event))
    return WorkflowAccepted(
        workflow_id=event.workflow_id, state=WorkflowState.QUEUED.value, event_seq=seq
    )


@router.get("", response_model=WorkflowPage, responses=INVALID)
async def list_workflows(
    tenant: TenantDep,
    db: ReadDbDep,
    settings: SettingsDep,
    state: Annotated[
        WorkflowState | None, Query(description="only workflows in this state")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of a page")
    ] = None,
) -> WorkflowPage:
    """The tenant's workflows, newest first, a page at a time."""
    try:
        rows, next_cursor = await queries.list_workflows(
            db,
            tenant,
            limit=min(limit, settings.page_size_max),
            state=state.value if state else None,
            cursor=cursor,
        )
    except ValueError:
        raise HTTPException(400, "cursor is not one this API returned") from None
    return WorkflowPage(items=[WorkflowView.of(r) for r in rows], next_cursor=next_cursor)


@router.get("/{workflow_id}", response_model=WorkflowDetail, responses={**NOT_FOUND, **INVALID})
async def get_workflow(
    workflow_id: UUID,
    tenant: TenantDep,
    db: ReadDbDep,
    projection: ProjectionDep,
    settings: SettingsDep,
) -> WorkflowDetail:
    """One workflow with its jobs, lanes and progress.

    A workflow submitted a moment ago is answered, not 404, even without a consistency token:
    the gateway finds its submission in the log and waits for the read models to hold it."""
    row = await queries.get_workflow(db, tenant, workflow_id)
    if row is None and await projection.submitted(tenant, workflow_id, settings.read_wait_s):
        row = await queries.get_workflow(db, tenant, workflow_id)
    if row is None:
        raise NotFound("workflow", str(workflow_id))
    return WorkflowDetail.of(row)


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
