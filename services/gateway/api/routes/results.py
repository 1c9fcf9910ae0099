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

from tessera.errors import NotFound
from tessera.gateway.api.deps import JobId, SucceededDep
from tessera.gateway.api.errors import CONFLICT, INVALID, NOT_FOUND, media_responses
from tessera.gateway.results import Succeeded

router = APIRouter(prefix="/workflows/{workflow_id}/jobs/{job_id}/results", tags=["results"])
ERRORS = {**NOT_FOUND, **CONFLICT, **INVALID}


async def _result(job: Succeeded, job_id: str, name: str) -> Path:
    """The path of one output file of a SUCCEEDED job; 404 when its type does not produce it."""
    path = job.folder / name
    if not await asyncio.to_thread(path.is_file):
        raise NotFound("result", f"{job_id}/{name} (a {job.type} job does not produce it)")
    return path


@router.get("/summary", responses=ERRORS)
async def get_summary(workflow_id: UUID, job_id: JobId, job: SucceededDep) -> dict[str, Any]:
    """The job's summary.json: cells, tissue area, tiles, timings per stage, model and sha256."""
    path = await _result(job, job_id, "summary.json")
    summary: dict[str, Any] = json.loads(await asyncio.to_thread(path.read_text))
    return summary


async def _file(job: Succeeded, job_id: str, name: str, media_type: str) -> FileResponse:
    path = await _result(job, job_id, name)
    return FileResponse(path, media_type=media_type, filename=f"{job_id}-{name}")


GEOJSON, PARQUET, PNG = "application/geo+json", "application/vnd.apache.parquet", "image/png"


@router.get(
    "/cells.geojson",
    response_class=FileResponse,
    responses=media_responses(GEOJSON, "QuPath-importable detections", ERRORS),
)
async def get_cells_geojson(workflow_id: UUID, job_id: JobId, job: SucceededDep) -> FileResponse:
    """The cell table as a GeoJSON FeatureCollection of Polygon detections (level-0 pixels)."""
    return await _file(job, job_id, "cells.geojson", GEOJSON)


@router.get(
    "/cells.parquet",
    response_class=FileResponse,
    responses=media_responses(PARQUET, "the cell table", ERRORS),
)
async def get_cells_parquet(workflow_id: UUID, job_id: JobId, job: SucceededDep) -> FileResponse:
    """The cell table as Parquet: id, centroid, area, bbox, contour."""
    return await _file(job, job_id, "cells.parquet", PARQUET)


@router.get(
    "/mask.png", response_class=FileResponse, responses=media_responses(PNG, "mask preview", ERRORS)
)
async def get_mask_preview(workflow_id: UUID, job_id: JobId, job: SucceededDep) -> FileResponse:
    """A tissue-mask job's PNG preview."""
    return await _file(job, job_id, "mask.png", PNG)
