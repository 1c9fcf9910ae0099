"""/v1/workflows/{workflow_id}/jobs: one job with its history."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path

from tessera.errors import NotFound
from tessera.gateway.api.deps import ReadDbDep, TenantDep
from tessera.gateway.api.errors import INVALID, NOT_FOUND
from tessera.gateway.api.models import JobDetail
from tessera.readmodel import queries

router = APIRouter(prefix="/workflows/{workflow_id}/jobs", tags=["jobs"])

JobId = Annotated[
    str, Path(min_length=1, max_length=64, description="the job's id in its workflow")
]


@router.get("/{job_id}", response_model=JobDetail, responses={**NOT_FOUND, **INVALID})
async def get_job(workflow_id: UUID, job_id: JobId, tenant: TenantDep, db: ReadDbDep) -> JobDetail:
    """One job: state, progress, its state history from the log, attempts and timings."""
    row = await queries.get_job(db, tenant, workflow_id, job_id)
    if row is None:
        raise NotFound("job", f"{workflow_id}/{job_id}")
    return JobDetail.of(row)
