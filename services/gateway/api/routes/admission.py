"""/v1/admission: how many tenants run, how many wait, and where this tenant stands."""

from __future__ import annotations

from fastapi import APIRouter

from tessera.gateway.api.deps import ReadDbDep, SettingsDep, TenantDep
from tessera.gateway.api.models import AdmissionView
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
