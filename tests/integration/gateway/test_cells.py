"""The cells of a finished segmentation, measured: the cell under a point, the cells in a box.

The job's cell table is written with the merger's own functions (`cell_table`, then the writer's
`finalise`), then the job is marked SUCCEEDED in the log, as test_overlays does.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest

from tessera.bus import Bus
from tessera.gateway.settings import GatewaySettings
from tessera.stitching.cells import CellTableWriter, cell_table
from tessera.stitching.ownership import Instance
from tessera.tiling.grid import plan_grid
from tests.integration.gateway.conftest import CMU, headers
from tests.integration.gateway.finished import Finished, finish_jobs

pytestmark = pytest.mark.integration

RADIUS = 8  # grid pixels; 2 level-0 pixels per grid pixel
CENTRES = [(100, 100), (300, 200), (600, 900), (1000, 1400), (120, 1300)]  # grid space


def write_cells(folder: Path) -> None:
    grid = plan_grid(2220, 2967, slide_mpp=0.499, target_mpp=0.998, tile_size=256, halo=32)
    yy, xx = np.mgrid[-RADIUS : RADIUS + 1, -RADIUS : RADIUS + 1]
    disk = xx**2 + yy**2 <= RADIUS**2
    writer = CellTableWriter(folder / "parts")
    for k, (x, y) in enumerate(CENTRES, start=1):
        instance = Instance(global_id=k, x=x - RADIUS, y=y - RADIUS, mask=disk)
        writer.add(k, cell_table([instance], grid, k))
    assert writer.finalise(folder / "cells.parquet") == len(CENTRES)


@pytest.fixture
async def finished(
    gateway: httpx.AsyncClient, bus: Bus, projector: object, settings: GatewaySettings
) -> Finished:
    writers = {"cells": write_cells, "mask": None}  # "later" never runs
    jobs = [
        {"id": job, "type": kind, "slide": CMU, "branch": job}
        for job, kind in (
            ("cells", "cell_segmentation"),
            ("mask", "tissue_mask"),
            ("later", "cell_segmentation"),
        )
    ]
    return await finish_jobs(gateway, bus, settings.results_root, jobs, writers)


async def test_the_cell_under_a_point(finished: Finished) -> None:
    f, owner = finished, headers(finished.tenant)
    # the third cell's centre, in level-0 pixels: grid pixel centre times 2
    answer = await f.gw.get(
        f"{f.base}/cells/results/cells/at", params={"x": 1201, "y": 1801}, headers=owner
    )
    assert answer.status_code == 200, answer.text
    cell = answer.json()
    assert cell["id"] == 3
    assert cell["centroid"] == pytest.approx([1201.0, 1801.0])
    disk_pixels = sum(1 for dx in range(-8, 9) for dy in range(-8, 9) if dx * dx + dy * dy <= 64)
    assert cell["area_px"] == disk_pixels * 4
    assert cell["area_um2"] == pytest.approx(disk_pixels * 0.998**2)
    assert cell["bbox"] == [1184.0, 1784.0, 1218.0, 1818.0]
    assert cell["polygon"][0] == cell["polygon"][-1] and len(cell["polygon"]) > 8

    nothing = await f.gw.get(
        f"{f.base}/cells/results/cells/at", params={"x": 1185, "y": 1785}, headers=owner
    )  # inside the bbox, outside the disk
    assert nothing.status_code == 404
    assert nothing.json()["error"]["message"] == "no cell at (1185, 1785) in job 'cells'"


async def test_the_cells_in_a_box(finished: Finished, settings: GatewaySettings) -> None:
    f, owner = finished, headers(finished.tenant)
    url = f"{f.base}/cells/results/cells/count"

    async def count(x0: float, y0: float, x1: float, y1: float) -> int:
        answer = await f.gw.get(url, params={"x0": x0, "y0": y0, "x1": x1, "y1": y1}, headers=owner)
        assert answer.status_code == 200, answer.text
        # a viewer counts after each pan: charged to the tiles' bucket, as its tiles are
        assert answer.headers["RateLimit-Limit"] == str(settings.tile_burst)
        assert answer.json()["box"] == [x0, y0, x1, y1]
        return int(answer.json()["count"])

    assert await count(0, 0, 2220, 2967) == 5
    assert await count(0, 0, 1e12, 1e12) == 5  # a box past the slide is fine
    assert await count(0, 0, 700, 700) == 2  # (201, 201) and (601, 401)
    assert await count(0, 0, 201, 201) == 0  # half-open: the centre on the edge is outside
    assert await count(100, 100, 100, 100) == 0


async def test_bad_input_is_refused_with_the_problem_named(finished: Finished) -> None:
    f, owner = finished, headers(finished.tenant)
    url = f"{f.base}/cells/results/cells"
    backwards = await f.gw.get(
        f"{url}/count", params={"x0": 10, "y0": 50, "x1": 5, "y1": 40}, headers=owner
    )
    assert backwards.status_code == 422
    assert backwards.json()["error"]["problems"] == [
        "query.x1: x1 must not be less than x0",
        "query.y1: y1 must not be less than y0",
    ]
    for params in ({"x": -1, "y": 3}, {"x": "nan", "y": 3}, {"x": "inf", "y": 3}, {"x": 3}):
        answer = await f.gw.get(f"{url}/at", params=params, headers=owner)
        assert answer.status_code == 422, (params, answer.text)
        assert answer.json()["error"]["message"].startswith("invalid request: query.")


async def test_only_a_finished_segmentation_of_the_tenant_has_cells(finished: Finished) -> None:
    f = finished
    point = {"x": 1201, "y": 1801}
    other = await f.gw.get(
        f"{f.base}/cells/results/cells/at", params=point, headers=headers(uuid.uuid4())
    )
    assert other.status_code == 404  # another tenant's job is not found, not forbidden
    assert "not found" in other.json()["error"]["message"]
    mask = await f.gw.get(
        f"{f.base}/mask/results/cells/at", params=point, headers=headers(f.tenant)
    )
    assert mask.status_code == 404
    assert mask.json()["error"]["message"] == "a tissue_mask job has no cells"
    later = await f.gw.get(
        f"{f.base}/later/results/cells/count",
        params={"x0": 0, "y0": 0, "x1": 9, "y1": 9},
        headers=headers(f.tenant),
    )
    assert later.status_code == 409  # not run yet
