"""/v1/workflows/{workflow_id}/jobs/{job_id}/results: a finished job's outputs, streamed from disk.

Files are served from the job's last attempt folder under the results root (a retry writes a
fresh folder, so an old attempt's files are never served). FileResponse streams in chunks: a
GeoJSON of a million cells never sits in the gateway's memory.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import FileResponse

from tessera.errors import Conflict, NotFound
from tessera.gateway.api.deps import ReadDbDep, SettingsDep, TenantDep
from tessera.gateway.api.errors import CONFLICT, INVALID, NOT_FOUND, media_responses
from tessera.gateway.api.routes.jobs import JobId
from tessera.readmodel import queries
from tessera.tiling.work import JobRef

router = APIRouter(prefix="/workflows/{workflow_id}/jobs/{job_id}/results", tags=["results"])
ERRORS = {**NOT_FOUND, **CONFLICT, **INVALID}


async def succeeded_job(
    db: Any, tenant: UUID, workflow_id: UUID, job_id: str, root: Path
) -> tuple[dict[str, Any], Path]:
    """A SUCCEEDED job's row and its last attempt's results folder; 404/409 otherwise."""
    row = await queries.get_job(db, tenant, workflow_id, job_id)
    if row is None:
        raise NotFound("job", f"{workflow_id}/{job_id}")
    if row["state"] != "SUCCEEDED":
        raise Conflict(f"job {job_id!r} has no results: it is {row['state']}", state=row["state"])
    ref = JobRef(tenant_id=tenant, workflow_id=workflow_id, job_id=job_id, attempt=row["attempt"])
    return row, ref.results_dir(root)


async def _result(
    db: Any, tenant: UUID, workflow_id: UUID, job_id: str, root: Path, name: str
) -> Path:
    """The path of one output file of a SUCCEEDED job; 404/409 otherwise."""
    row, folder = await succeeded_job(db, tenant, workflow_id, job_id, root)
    path = folder / name
    if not await asyncio.to_thread(path.is_file):
        raise NotFound("result", f"{job_id}/{name} (a {row['type']} job does not produce it)")
    return path


@router.get("/summary", responses=ERRORS)
async def get_summary(
    workflow_id: UUID, job_id: JobId, tenant: TenantDep, db: ReadDbDep, settings: SettingsDep
) -> dict[str, Any]:
    """The job's summary.json: cells, tissue area, tiles, timings per stage, model and sha256."""
    path = await _result(db, tenant, workflow_id, job_id, settings.results_root, "summary.json")
    summary: dict[str, Any] = json.loads(await asyncio.to_thread(path.read_text))
    return summary


async def _file(
    db: Any, tenant: UUID, workflow_id: UUID, job_id: str, root: Path, name: str, media_type: str
) -> FileResponse:
    path = await _result(db, tenant, workflow_id, job_id, root, name)
    return FileResponse(path, media_type=media_type, filename=f"{job_id}-{name}")


GEOJSON, PARQUET, PNG = "application/geo+json", "application/vnd.apache.parquet", "image/png"


@router.get(
    "/cells.geojson",
    response_class=FileResponse,
    responses=media_responses(GEOJSON, "QuPath-importable detections", ERRORS),
)
async def get_cells_geojson(
    workflow_id: UUID, job_id: JobId, tenant: TenantDep, db: ReadDbDep, settings: SettingsDep
) -> FileResponse:
    """The cell table as a GeoJSON FeatureCollection of Polygon detections (level-0 pixels)."""
    root = settings.results_root
    return await _file(db, tenant, workflow_id, job_id, root, "cells.geojson", GEOJSON)


@router.get(
    "/cells.parquet",
    response_class=FileResponse,
    responses=media_responses(PARQUET, "the cell table", ERRORS),
)
async def get_cells_parquet(
    workflow_id: UUID, job_id: JobId, tenant: TenantDep, db: ReadDbDep, settings: SettingsDep
) -> FileResponse:
    """The cell table as Parquet: id, centroid, area, bbox, contour."""
    root = settings.results_root
    return await _file(db, tenant, workflow_id, job_id, root, "cells.parquet", PARQUET)


@router.get(
    "/mask.png", response_class=FileResponse, responses=media_responses(PNG, "mask preview", ERRORS)
)
async def get_mask_preview(
    workflow_id: UUID, job_id: JobId, tenant: TenantDep, db: ReadDbDep, settings: SettingsDep
) -> FileResponse:
    """A tissue-mask job's PNG preview."""
    return await _file(db, tenant, workflow_id, job_id, settings.results_root, "mask.png", PNG)
