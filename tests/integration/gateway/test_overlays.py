"""Overlay tiles of finished jobs: the slide's Deep Zoom geometry, drawn from the job's Zarr.

The jobs' outputs are written with the merger's own writers (label image, tissue mask) on the
real slide's grid, then the jobs are marked SUCCEEDED in the log, as test_results does.
"""

from __future__ import annotations

import io
import uuid
import xml.etree.ElementTree as ET

import httpx
import numpy as np
import pytest
from PIL import Image

from tessera.bus import Bus
from tessera.gateway.settings import GatewaySettings
from tessera.slides.deepzoom import DeepZoomGeometry
from tessera.stitching.mask_writer import TissueMaskWriter
from tessera.stitching.ownership import Instance
from tessera.stitching.writer import LabelImageWriter
from tessera.tiling.grid import plan_grid
from tests.integration.gateway.conftest import CMU, headers
from tests.integration.gateway.finished import Finished, finish_jobs

pytestmark = pytest.mark.integration

GEOMETRY = DeepZoomGeometry(2220, 2967)
TOP = GEOMETRY.level_count - 1
RADIUS = 8  # grid pixels; the label grid has 2 level-0 pixels per grid pixel
CELLS = [(100, 100), (300, 200), (600, 900), (1000, 1400), (120, 1300)]  # grid-space centres


def write_cells(folder) -> None:  # type: ignore[no-untyped-def]
    grid = plan_grid(2220, 2967, slide_mpp=0.499, target_mpp=0.998, tile_size=256, halo=32)
    assert grid.level0_per_px == pytest.approx(2.0)
    writer = LabelImageWriter.create(folder / "labels.zarr", grid)
    yy, xx = np.mgrid[-RADIUS : RADIUS + 1, -RADIUS : RADIUS + 1]
    disk = xx**2 + yy**2 <= RADIUS**2
    for k, (x, y) in enumerate(CELLS, start=1):
        writer.apply(k, [Instance(global_id=k, x=x - RADIUS, y=y - RADIUS, mask=disk)])
    assert len(writer.finalise()) == 3  # a real pyramid: 2, 4 and 8 level-0 pixels per pixel


def write_tissue(folder) -> None:  # type: ignore[no-untyped-def]
    """Tissue on the slide's left half (level-0 x < 1110)."""
    grid = plan_grid(2220, 2967, slide_mpp=0.499, target_mpp=8.0, tile_size=64, halo=8)
    writer = TissueMaskWriter.create(folder / "mask.zarr", grid)
    for tile in grid.tiles():
        x = (np.arange(tile.read.x, tile.read.x1) + 0.5) * grid.level0_per_px
        row = np.where(x < 1110, 255, 0).astype(np.uint8)
        writer.apply(tile.index, np.tile(row, (grid.tile_size, 1)))
    writer.finalise(folder / "mask.png")


@pytest.fixture
async def finished(
    gateway: httpx.AsyncClient, bus: Bus, projector: object, settings: GatewaySettings
) -> Finished:
    jobs = [
        {"id": "cells", "type": "cell_segmentation", "slide": CMU, "branch": "a"},
        {"id": "mask", "type": "tissue_mask", "slide": CMU, "branch": "b"},
        {"id": "load", "type": "synthetic", "branch": "c"},
        {"id": "later", "type": "tissue_mask", "slide": CMU, "branch": "d"},
    ]
    writers = {"cells": write_cells, "mask": write_tissue, "load": None}
    return await finish_jobs(gateway, bus, settings.results_root, jobs, writers)


async def tile(f: Finished, job: str, level: int, col: int, row: int) -> np.ndarray:
    url = f"{f.base}/{job}/results/overlay_files/{level}/{col}_{row}.png"
    answer = await f.gw.get(url, headers=headers(f.tenant))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/png"
    assert "immutable" in answer.headers["cache-control"]
    image = Image.open(io.BytesIO(answer.content))
    assert image.format == "PNG" and image.mode == "RGBA"
    return np.asarray(image)


def locate(level: int, x0: float, y0: float) -> tuple[int, int, int, int]:
    """The tile of `level` holding level-0 point (x0, y0), and the point's pixel in it."""
    d = GEOMETRY.downsample(level)
    x, y = int(x0 // d), int(y0 // d)
    col, row = x // GEOMETRY.tile_size, y // GEOMETRY.tile_size
    box = GEOMETRY.tile_box(level, col, row)
    return col, row, x - box.x, y - box.y


async def test_the_overlay_has_the_slides_deep_zoom_geometry(finished: Finished) -> None:
    f, owner = finished, headers(finished.tenant)
    slide_dzi = ET.fromstring((await f.gw.get(f"/v1/slides/{CMU}/dzi", headers=owner)).text)
    for job in ("cells", "mask"):
        answer = await f.gw.get(f"{f.base}/{job}/results/overlay.dzi", headers=owner)
        assert answer.status_code == 200, answer.text
        dzi = ET.fromstring(answer.text)
        assert dzi.get("Format") == "png"
        assert {**dzi.attrib, "Format": "jpeg"} == slide_dzi.attrib
        assert [e.attrib for e in dzi] == [e.attrib for e in slide_dzi]

    slide = (await f.gw.get(f"/v1/slides/{CMU}/dzi.json", headers=owner)).json()
    overlay = (await f.gw.get(f"{f.base}/cells/results/overlay.json", headers=owner)).json()
    assert overlay["format"] == "png"
    assert overlay["tile_url"] == (
        f"{f.base}/cells/results/overlay_files/{{level}}/{{col}}_{{row}}.png"
    )
    same = ("width", "height", "tile_size", "overlap", "levels", "level_dimensions", "level_tiles")
    assert {k: overlay[k] for k in same} == {k: slide[k] for k in same}
    for level, col, row in [(TOP, 8, 11), (TOP - 1, 4, 5), (3, 0, 0)]:
        pixels = await tile(f, "cells", level, col, row)
        box = GEOMETRY.tile_box(level, col, row)
        assert pixels.shape in ((box.height, box.width, 4), (1, 1, 4))


@pytest.mark.parametrize("level", [TOP, TOP - 1, TOP - 2])
async def test_cells_are_drawn_as_contours_where_they_are(finished: Finished, level: int) -> None:
    for gx, gy in CELLS:
        cx, cy = (gx + 0.5) * 2, (gy + 0.5) * 2  # the cell's centre in level-0 pixels
        col, row, px, py = locate(level, cx, cy)
        pixels = await tile(finished, "cells", level, col, row)
        alpha = pixels[..., 3]
        assert alpha[py, px] > 0  # the fill
        d = GEOMETRY.downsample(level)
        reach = int(RADIUS * 2 / d) + 2  # the contour lies within the disk's radius
        near = alpha[max(0, py - reach) : py + reach + 1, max(0, px - reach) : px + reach + 1]
        assert (near == 255).any()  # the contour
        assert tuple(pixels[py, px][:3]) == (0, 255, 64)

    far_col, far_row, _, _ = locate(TOP, 1800, 200)  # no cell in this tile
    empty = await tile(finished, "cells", TOP, far_col, far_row)
    assert empty.shape == (1, 1, 4) and empty[..., 3].max() == 0


async def test_a_tissue_mask_is_a_translucent_fill(finished: Finished) -> None:
    for level in (TOP, TOP - 3, 2):  # 2: 3x3 pixels, the left one's centre at level-0 x 512
        col, row, px, py = locate(level, 300, 1500)
        pixels = await tile(finished, "mask", level, col, row)
        assert 0 < pixels[py, px, 3] < 255
    col, row, px, py = locate(TOP, 1900, 1500)
    right = await tile(finished, "mask", TOP, col, row)
    assert right[..., 3].max() == 0
    whole = await tile(finished, "mask", TOP - 4, 0, 0)  # 139 x 186: the whole slide
    d = GEOMETRY.downsample(TOP - 4)
    assert whole[:, : int(1000 / d), 3].min() > 0
    assert whole[:, int(1200 / d) :, 3].max() == 0


async def test_overlays_refuse_what_they_cannot_draw(finished: Finished) -> None:
    f, owner = finished, headers(finished.tenant)
    for suffix in ("overlay.dzi", "overlay.json", "overlay_files/12/0_0.png"):
        pending = await f.gw.get(f"{f.base}/later/results/{suffix}", headers=owner)
        assert pending.status_code == 409 and pending.json()["error"]["state"] == "PENDING"
        no_slide = await f.gw.get(f"{f.base}/load/results/{suffix}", headers=owner)
        assert no_slide.status_code == 404 and "no slide" in no_slide.json()["error"]["message"]
        stranger = await f.gw.get(f"{f.base}/cells/results/{suffix}", headers=headers(uuid.uuid4()))
        assert stranger.status_code == 404
        assert "not found" in stranger.json()["error"]["message"]
    for url, needle in [
        (f"{f.base}/cells/results/overlay_files/{TOP + 1}/0_0.png", "no level 13"),
        (f"{f.base}/cells/results/overlay_files/{TOP}/9_0.png", "9 column(s) x 12 row(s)"),
    ]:
        answer = await f.gw.get(url, headers=owner)
        assert answer.status_code == 404 and needle in answer.json()["error"]["message"]
