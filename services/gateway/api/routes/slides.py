"""/v1/slides: the slides a tenant may use, their Deep Zoom tiles, and uploads.

A slide is named by its reference, its path in the data root, `/` included:
`/v1/slides/{slide}/info`, `/thumbnail.jpg`, `/associated/{image}`, `/dzi`, `/dzi.json` and
`/dzi_files/{level}/{col}_{row}.jpeg`. `/dzi` and `/dzi_files/` sit side by side as a viewer
expects them (OpenSeadragon finds the tiles of `x/dzi` under `x/dzi_files/`). Shared slides are
visible to every tenant, uploads (`uploads/<tenant>/<name>`) only to their tenant; another
tenant's upload answers 404 like a missing file. `DELETE /v1/slides/uploads/{tenant}/{name}`
removes an upload of the caller's. Slide reads block, so every read runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Path, Query, Request, Response

from tessera.errors import Conflict
from tessera.gateway import idempotency
from tessera.gateway.api.deps import (
    BusDep,
    CatalogDep,
    DeepZoomDep,
    PoolDep,
    ReadDbDep,
    SettingsDep,
    TenantDep,
)
from tessera.gateway.api.errors import INVALID, NOT_FOUND, WRITTEN, ErrorBody, media_responses
from tessera.gateway.api.models import DeepZoomDescriptor, SlidePage, SlideUploaded, SlideView
from tessera.gateway.consistency import give_token, log_position
from tessera.gateway.idempotency import IdempotencyKey
from tessera.gateway.settings import GatewaySettings
from tessera.gateway.slides import UPLOADS
from tessera.gateway.uploads import (
    UPLOAD_SUFFIXES,
    Received,
    delete_upload,
    place_upload,
    received_upload,
    store_upload,
    upload_path,
)
from tessera.readmodel import queries
from tessera.slides.deepzoom import DeepZoomGeometry

router = APIRouter(prefix="/slides", tags=["slides"])

SlideRef = Annotated[
    str,
    Path(
        max_length=1024,
        description="the slide's reference: its path in the data root, `/` included",
        examples=["CMU-1-Small-Region.svs"],
    ),
]
Level = Annotated[
    int, Path(ge=0, description="Deep Zoom level: 0 is 1x1 pixel, `levels - 1` full resolution")
]
Col = Annotated[int, Path(ge=0, description="tile column, from the left")]
Row = Annotated[int, Path(ge=0, description="tile row, from the top")]

JPEG, XML = "image/jpeg", "application/xml"
# A slide's pixels change only if someone replaces the file, which no route of this API does.
SLIDE_CACHE = {"Cache-Control": "private, max-age=3600"}
ERRORS = {**NOT_FOUND, **INVALID}
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the slide file itself, as the raw body (not a form)",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def slide_url(request: Request, slide: str, suffix: str) -> str:
    """The path of one of a slide's routes, as a client requests it."""
    return f"{request.scope.get('root_path', '')}/v1/slides/{quote(slide, safe='/')}/{suffix}"


@router.get("", response_model=SlidePage, responses=INVALID)
async def list_slides(
    tenant: TenantDep,
    catalog: CatalogDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
    cursor: Annotated[
        str | None, Query(max_length=1024, description="next_cursor of a page")
    ] = None,
) -> SlidePage:
    """The slides this tenant can use, by reference: the shared ones and its own uploads.

    Files OpenSlide cannot open are left out. Metadata is read once per file version, so a
    listing costs a directory walk.
    """
    items, next_cursor = await asyncio.to_thread(
        catalog.page, tenant, limit=min(limit, settings.page_size_max), after=cursor
    )
    return SlidePage(items=[SlideView.of(e) for e in items], next_cursor=next_cursor)


@router.post(
    "",
    status_code=201,
    response_model=SlideUploaded,
    responses={
        201: WRITTEN,
        200: {**WRITTEN, "description": "a retry (same Idempotency-Key, name and file)"},
        409: {
            "model": ErrorBody,
            "description": "this tenant already has an upload of that name, or the "
            "Idempotency-Key was used for another request",
        },
        **INVALID,
    },
    openapi_extra=UPLOAD_BODY,
)
async def upload_slide(
    request: Request,
    name: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            description=f"file name to store it under; one of {', '.join(UPLOAD_SUFFIXES)}",
            examples=["biopsy-17.svs"],
        ),
    ],
    tenant: TenantDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    bus: BusDep,
    pool: PoolDep,
    response: Response,
    at: idempotency.Now,
    key: IdempotencyKey = None,
) -> SlideUploaded:
    """Upload a slide (raw body, `application/octet-stream`) as `uploads/<tenant>/<name>`.

    The body is streamed to disk and refused with 413 as soon as it passes the upload limit;
    the file must then open in OpenSlide (422 with the reason otherwise). Nothing is kept from a
    refused upload. The answer's `slide` is the reference to name in a workflow; only this
    tenant sees it. `seq` (also `X-Tessera-Seq`) is the upload's consistency token.

    With an `Idempotency-Key`, a retry of the same name and file within the retention answers
    the stored upload with 200; the key with another name or file is 409 (a keyed upload is
    received in full before its name is checked, since it may be a retry).
    """
    seq = await log_position(bus)  # before: a failure stores nothing
    if key is None:
        reference = await store_upload(
            request.stream(), settings.data_root, tenant, name, settings.max_upload_bytes
        )
    else:
        async with received_upload(
            request.stream(),
            settings.data_root,
            tenant,
            name,
            settings.max_upload_bytes,
            name_taken_ok=True,
        ) as received:
            claim = await upload_once(received, name, tenant, key, at, seq, settings, pool)
        reference, seq = received.reference, claim.seq or seq
        if not claim.first:
            response.status_code = 200
    give_token(response, seq)
    view = SlideView.of(await asyncio.to_thread(catalog.describe, reference, tenant))
    return SlideUploaded(**view.model_dump(), seq=seq)


async def upload_once(
    received: Received,
    name: str,
    tenant: UUID,
    key: str,
    at: datetime,
    seq: int,
    settings: GatewaySettings,
    pool: asyncpg.Pool,
) -> idempotency.Claim:
    """Place a received upload unless its key says it is a retry of one already placed."""
    digest = idempotency.request_hash("POST /v1/slides", {"name": name, "sha256": received.digest})
    retention = timedelta(seconds=settings.idempotency_retention_s)
    async with pool.acquire() as conn:
        claim = await idempotency.claim(
            conn, tenant, key, digest, received.reference, at=at, retention=retention
        )
    if claim.first:
        try:
            await place_upload(received)
        except BaseException:
            async with pool.acquire() as conn:
                await idempotency.release(conn, tenant, key)
            raise
    elif not await asyncio.to_thread(os.path.lexists, received.target):
        # the first try has not placed it (in flight, or gone): place it; if the first try wins
        # the race, its file is this very file
        with contextlib.suppress(Conflict):
            await place_upload(received)
    if claim.seq is None:
        async with pool.acquire() as conn:
            await idempotency.record(conn, tenant, key, seq)
    return claim


@router.get("/{slide:path}/info", response_model=SlideView, responses=ERRORS)
async def get_slide(slide: SlideRef, tenant: TenantDep, catalog: CatalogDep) -> SlideView:
    """One slide's metadata (404 with the reason when it is not one this tenant can use)."""
    return SlideView.of(await asyncio.to_thread(catalog.describe, slide, tenant))


@router.get(
    "/{slide:path}/thumbnail.jpg",
    response_class=Response,
    responses=media_responses(JPEG, "a thumbnail", ERRORS),
)
async def get_thumbnail(
    slide: SlideRef,
    tenant: TenantDep,
    catalog: CatalogDep,
    deepzoom: DeepZoomDep,
    max_size: Annotated[
        int, Query(ge=16, le=2048, description="longest side in pixels (never enlarged)")
    ] = 512,
) -> Response:
    """The whole slide as a JPEG, aspect ratio kept."""

    def render() -> bytes:
        return deepzoom.open(catalog.describe(slide, tenant)).thumbnail_jpeg(max_size)

    return Response(await asyncio.to_thread(render), media_type=JPEG, headers=SLIDE_CACHE)


@router.get(
    "/{slide:path}/associated/{image}",
    response_class=Response,
    responses=media_responses(JPEG, "the associated image", ERRORS),
)
async def get_associated_image(
    slide: SlideRef,
    image: Annotated[
        str,
        Path(max_length=64, description="one of the slide's `associated_images`"),
    ],
    tenant: TenantDep,
    catalog: CatalogDep,
    deepzoom: DeepZoomDep,
) -> Response:
    """An image the slide file holds beside the slide (label, macro, thumbnail), as a JPEG;
    404 when it holds none of that name."""

    def render() -> bytes:
        return deepzoom.open(catalog.describe(slide, tenant)).associated_jpeg(image)

    return Response(await asyncio.to_thread(render), media_type=JPEG, headers=SLIDE_CACHE)


@router.get(
    "/{slide:path}/dzi",
    response_class=Response,
    responses=media_responses(XML, "the Deep Zoom descriptor", ERRORS),
)
async def get_dzi(
    slide: SlideRef, tenant: TenantDep, catalog: CatalogDep, deepzoom: DeepZoomDep
) -> Response:
    """The Deep Zoom (`.dzi`) descriptor: tile size 254, overlap 1, JPEG tiles under
    `dzi_files/`, so `new OpenSeadragon({tileSources: ".../dzi"})` works as is (with
    `loadTilesWithAjax` and `ajaxHeaders` for X-User-ID)."""

    def describe() -> str:
        return deepzoom.open(catalog.describe(slide, tenant)).geometry.dzi("jpeg")

    return Response(await asyncio.to_thread(describe), media_type=XML, headers=SLIDE_CACHE)


@router.get("/{slide:path}/dzi.json", response_model=DeepZoomDescriptor, responses=ERRORS)
async def get_dzi_json(
    request: Request, slide: SlideRef, tenant: TenantDep, catalog: CatalogDep
) -> DeepZoomDescriptor:
    """The Deep Zoom descriptor as JSON, with every level's size and tile count and the tiles'
    URL template, for viewers that take a custom tile source."""
    entry = await asyncio.to_thread(catalog.describe, slide, tenant)
    return DeepZoomDescriptor.of(
        DeepZoomGeometry(entry.info.width, entry.info.height),
        "jpeg",
        entry.info.mpp_x,
        slide_url(request, slide, "dzi_files/{level}/{col}_{row}.jpeg"),
    )


@router.get(
    "/{slide:path}/dzi_files/{level:int}/{col:int}_{row:int}.jpeg",
    response_class=Response,
    responses=media_responses(
        JPEG, "one tile, 254 px plus 1 px of overlap on each side with a neighbour", ERRORS
    ),
)
async def get_tile(
    slide: SlideRef,
    level: Level,
    col: Col,
    row: Row,
    tenant: TenantDep,
    catalog: CatalogDep,
    deepzoom: DeepZoomDep,
) -> Response:
    """One Deep Zoom tile of the slide; 404 when the level, column or row is out of range."""

    def render() -> bytes:
        return deepzoom.open(catalog.describe(slide, tenant)).tile_jpeg(level, col, row)

    return Response(await asyncio.to_thread(render), media_type=JPEG, headers=SLIDE_CACHE)


@router.delete(
    "/uploads/{owner}/{name}",
    status_code=204,
    response_class=Response,
    responses={
        204: WRITTEN,
        409: {"model": ErrorBody, "description": "a pending or running job names the slide"},
        **ERRORS,
    },
)
async def delete_upload_route(
    owner: Annotated[str, Path(max_length=64, description="the uploading tenant (the caller)")],
    name: Annotated[str, Path(max_length=200, description="the upload's file name")],
    tenant: TenantDep,
    settings: SettingsDep,
    deepzoom: DeepZoomDep,
    db: ReadDbDep,
    bus: BusDep,
) -> Response:
    """Delete one of this tenant's uploads: the slide `uploads/{owner}/{name}`.

    Refused (409, `state` in_use) while a PENDING or RUNNING job of the tenant names it: cancel
    the job or let it end first. Another tenant's upload answers 404 like a missing file; shared
    slides are the operators' to manage and have no such route. Results of finished jobs on the
    slide stay; their overlays no longer have a slide to be drawn on. `X-Tessera-Seq` is the
    log's last sequence at the delete (a delete appends no event); sent with the delete itself,
    a token makes the in-use check see the jobs that write submitted.
    """
    slide = f"{UPLOADS}/{owner}/{name}"
    path = await asyncio.to_thread(upload_path, settings.data_root, tenant, slide)
    if await queries.slide_in_use(db, tenant, slide):
        raise Conflict(
            f"slide {slide!r} is named by a pending or running job; cancel it or let it end "
            "before deleting the slide",
            state="in_use",
        )
    seq = await log_position(bus)  # before: a failure deletes nothing
    await asyncio.to_thread(delete_upload, path, slide)
    deepzoom.forget(path)
    response = Response(status_code=204)
    give_token(response, seq)
    return response
