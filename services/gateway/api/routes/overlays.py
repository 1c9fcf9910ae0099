"""/v1/workflows/{workflow_id}/jobs/{job_id}/results/overlay*: a finished job drawn for a viewer.

The overlay's Deep Zoom geometry is the slide's own (same size, tile size 254, overlap 1, same
level numbers), so a viewer stacks it exactly on `/v1/slides/{slide}/dzi`: `overlay.dzi` with its
tiles under `overlay_files/` where OpenSeadragon looks for them, `overlay.json`, and
`overlay_files/{level}/{col}_{row}.png`. Tiles are RGBA PNGs, transparent where nothing is drawn:
cell contours over a faint fill for cell segmentation, a translucent fill for a tissue mask.
A SUCCEEDED job's results never change, so its tiles may be cached for good.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response

from tessera.errors import NotFound
from tessera.gateway.api.deps import CatalogDep, JobId, OverlaysDep, SucceededDep, TenantDep
from tessera.gateway.api.errors import CONFLICT, INVALID, NOT_FOUND, media_responses
from tessera.gateway.api.models import DeepZoomDescriptor
from tessera.gateway.api.routes.slides import XML, Col, Level, Row
from tessera.gateway.slides import SlideEntry
from tessera.slides.deepzoom import DeepZoomGeometry

router = APIRouter(prefix="/workflows/{workflow_id}/jobs/{job_id}/results", tags=["results"])
ERRORS = {**NOT_FOUND, **CONFLICT, **INVALID}
PNG = "image/png"
OVERLAY_CACHE = {"Cache-Control": "private, max-age=31536000, immutable"}


@dataclass(frozen=True)
class _Layer:
    """What a finished job's overlay is drawn from: its folder, type and slide."""

    folder: Path
    job_type: str
    slide: SlideEntry

    @property
    def geometry(self) -> DeepZoomGeometry:
        return DeepZoomGeometry(self.slide.info.width, self.slide.info.height)


async def _layer(
    job_id: JobId,
    tenant: TenantDep,
    job: SucceededDep,
    catalog: CatalogDep,
    overlays: OverlaysDep,
) -> _Layer:
    """404 for other tenants' jobs, jobs without a slide or an overlay; 409 until SUCCEEDED."""
    slide = job.slide
    if slide is None:
        raise NotFound("overlay", job_id, f"a {job.type} job has no slide to draw over")

    def load() -> _Layer:
        overlays.open(job.folder, job.type)
        return _Layer(job.folder, job.type, catalog.describe(slide, tenant))

    return await asyncio.to_thread(load)


LayerDep = Annotated[_Layer, Depends(_layer)]


@router.get(
    "/overlay.dzi",
    response_class=Response,
    responses=media_responses(XML, "the overlay's .dzi", ERRORS),
)
async def get_overlay_dzi(workflow_id: UUID, job_id: JobId, layer: LayerDep) -> Response:
    """The overlay's Deep Zoom descriptor: the slide's geometry with PNG tiles under
    `overlay_files/`."""
    return Response(layer.geometry.dzi("png"), media_type=XML, headers=OVERLAY_CACHE)


@router.get("/overlay.json", response_model=DeepZoomDescriptor, responses=ERRORS)
async def get_overlay_json(
    request: Request, workflow_id: UUID, job_id: JobId, layer: LayerDep
) -> DeepZoomDescriptor:
    """The overlay's Deep Zoom descriptor as JSON (see `GET /v1/slides/{slide}/dzi.json`)."""
    base = f"{request.scope.get('root_path', '')}/v1/workflows/{workflow_id}/jobs/{job_id}"
    return DeepZoomDescriptor.of(
        layer.geometry,
        "png",
        layer.slide.info.mpp_x,
        f"{base}/results/overlay_files/{{level}}/{{col}}_{{row}}.png",
    )


@router.get(
    "/overlay_files/{level:int}/{col:int}_{row:int}.png",
    response_class=Response,
    responses=media_responses(PNG, "one RGBA tile, transparent where nothing is drawn", ERRORS),
)
async def get_overlay_tile(
    workflow_id: UUID,
    job_id: JobId,
    level: Level,
    col: Col,
    row: Row,
    layer: LayerDep,
    overlays: OverlaysDep,
) -> Response:
    """One overlay tile, at the same level, column and row as the slide tile it covers; 404
    when they are out of range. A tile with nothing on it is a 1x1 transparent PNG."""
    png = await asyncio.to_thread(
        overlays.tile_png, layer.folder, layer.job_type, layer.geometry, level, col, row
    )
    return Response(png, media_type=PNG, headers=OVERLAY_CACHE)
