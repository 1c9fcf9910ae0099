"""/v1/admission: how many tenants run, how many wait, where this tenant stands, and how fast
its work goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from tessera import progress
from tessera.gateway.api.deps import ReadDbDep, SettingsDep, TenantDep
from tessera.gateway.api.models import AdmissionView, TenantThroughput, ThroughputPoint
from tessera.readmodel import queries

router = APIRouter(prefix="/admission", tags=["admission"])


@router.get("", response_model=AdmissionView)
async def admission_status(
    tenant: TenantDep, db: ReadDbDep, settings: SettingsDep
) -> AdmissionView:
    """Active and waiting tenant counts, this tenant's state and its place in the line.

    A tenant that never submitted anything (or whose work was all released) is `IDLE`.
    """
    row = await queries.admission_status(db, tenant)
    return AdmissionView.of(row, settings.max_active_tenants)


@router.get("/throughput", response_model=TenantThroughput)
async def tenant_throughput(
    tenant: TenantDep,
    db: ReadDbDep,
    minutes: Annotated[float, Query(gt=0, le=24 * 60, description="how far back")] = 10,
) -> TenantThroughput:
    """Tiles/s of this tenant's jobs together (its own work only), in at most 120 equal steps
    over the last `minutes`, from the progress its jobs logged."""
    until = datetime.now(UTC)
    since = until - timedelta(minutes=minutes)
    deltas = await queries.tenant_progress(db, tenant, since, until)
    points = progress.series(deltas, since, until)
    step = (points[1].at - points[0].at).total_seconds() if len(points) > 1 else minutes * 60
    return TenantThroughput(
        since=since,
        until=until,
        step_s=step,
        tiles=sum(delta for _, delta in deltas),
        points=ThroughputPoint.series(points),
    )
