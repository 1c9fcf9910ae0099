"""/v1/workflows/{workflow_id}/jobs: one job with its history."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from fastapi import APIRouter, Response

from tessera.errors import NotFound
from tessera.gateway.api.deps import (
    BusDep,
    JobId,
    ProjectionDep,
    ReadDbDep,
    ReadPoolDep,
    SettingsDep,
    TenantDep,
)
from tessera.gateway.api.errors import CONFLICT, INVALID, NOT_FOUND, WRITTEN
from tessera.gateway.api.models import CancelResult, JobDetail, RerunResult
from tessera.gateway.cancellation import request_cancel
from tessera.gateway.consistency import give_token
from tessera.gateway.reruns import request_rerun
from tessera.gateway.waiting import read_waiting
from tessera.readmodel import queries

router = APIRouter(prefix="/workflows/{workflow_id}/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobDetail, responses={**NOT_FOUND, **INVALID})
async def get_job(
    workflow_id: UUID,
    job_id: JobId,
    tenant: TenantDep,
    db: ReadDbDep,
    projection: ProjectionDep,
    settings: SettingsDep,
) -> JobDetail:
    """One job: state, progress, its state history from the log, attempts and timings, and
    while PENDING what it waits for (a job of a workflow submitted a moment ago is answered like
    the workflow: not 404)."""
    row = await queries.get_job(db, tenant, workflow_id, job_id)
    if row is None and await projection.submitted(tenant, workflow_id, settings.read_wait_s):
        row = await queries.get_job(db, tenant, workflow_id, job_id)
    if row is None:
        raise NotFound("job", f"{workflow_id}/{job_id}")
    now = datetime.now(UTC)
    waiting = None
    if row["state"] == "PENDING":
        workflow = await queries.get_workflow(db, tenant, workflow_id)
        if workflow is not None:
            reasons = await read_waiting(
                db, tenant, workflow, max_workers=settings.max_workers, now=now
            )
            waiting = reasons.get(job_id)
    return JobDetail.of(row, waiting, now)


@router.post(
    "/{job_id}/cancel",
    response_model=CancelResult,
    responses={200: WRITTEN, **NOT_FOUND, **CONFLICT, **INVALID},
)
async def cancel_job(
    workflow_id: UUID,
    job_id: JobId,
    tenant: TenantDep,
    bus: BusDep,
    pool: ReadPoolDep,
    response: Response,
) -> CancelResult:
    """Cancel a job that has not ended (PENDING or RUNNING: a running job's attempt is stopped
    and its worker slot freed at once); 409 with its state once it has ended.

    The answer comes from the branch-sequencer after `JobCancelled` is in the log; the lane then
    moves on to its next job and jobs that depend on this one are SKIPPED.
    """
    reply = await request_cancel(bus, pool, tenant, workflow_id, job_id)
    return CancelResult(
        workflow_id=workflow_id,
        job_id=job_id,
        cancelled=reply.cancelled,
        seq=give_token(response, reply.seq),
    )


@router.post(
    "/{job_id}/rerun",
    response_model=RerunResult,
    responses={200: WRITTEN, **NOT_FOUND, **CONFLICT, **INVALID},
)
async def rerun_job(
    workflow_id: UUID,
    job_id: JobId,
    tenant: TenantDep,
    bus: BusDep,
    pool: ReadPoolDep,
    response: Response,
) -> RerunResult:
    """Re-run a FAILED or CANCELLED job together with the jobs its end SKIPPED (the rest of its
    lane, its dependants), without submitting the workflow again: they go back to PENDING and
    each starts a new attempt, with the job's retries afresh; a finished workflow runs again
    (admitted like a new one).

    409 with the state for a job that is PENDING, RUNNING or SUCCEEDED, while a later job of its
    lane has not ended (a lane runs in order), and when its own dependency did not succeed.
    The branch-sequencer decides and answers after `JobRerun` is in the log; `seq` (also
    `X-Tessera-Seq`) is the consistency token.
    """
    reply = await request_rerun(bus, pool, tenant, workflow_id, job_id)
    return RerunResult(
        workflow_id=workflow_id,
        job_id=job_id,
        rerun=reply.jobs,
        seq=give_token(response, reply.seq),
    )
