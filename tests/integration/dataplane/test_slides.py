"""Real-slide jobs: tissue mask and cell segmentation on CMU-1-Small-Region, and bad inputs."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import tifffile
import zarr
from PIL import Image

from tessera.tiling.grid import TileGrid
from tessera.workflows import JobSpec
from tests.integration.dataplane.conftest import CMU, DATA_ROOT, DataPlane, of_type

pytestmark = pytest.mark.integration


async def test_tissue_mask_of_the_real_slide(dataplane: DataPlane) -> None:
    await dataplane.all()
    job = JobSpec(
        id="mask",
        type="tissue_mask",
        slide=CMU,
        params={"target_mpp": 2.0, "tile_size": 256, "overlap": 32},
    )
    tenant, workflow = await dataplane.submit(job)

    events = await dataplane.finished(tenant, workflow)

    [planned] = of_type(events, "JobPlanned")
    grid = TileGrid.model_validate(planned.grid["grid"])
    assert planned.tiles_total == grid.n_tiles == 12  # every tile: the job is the detection
    [done] = of_type(events, "JobSucceeded")
    summary = done.summary
    assert 0.2 < summary["tissue_fraction"] < 0.6
    assert abs(summary["tissue_fraction"] - planned.tissue_fraction) < 0.1
    assert summary["tissue_area_um2"] == pytest.approx(
        summary["tissue_fraction"] * grid.width * grid.height * 4.0, rel=1e-6
    )
    folder = dataplane.base["results_root"] / summary["results"]
    mask = np.asarray(zarr.open_group(str(folder / "mask.zarr"), mode="r")["0"][:])
    assert mask.shape == (grid.height, grid.width)
    assert mask.mean() == pytest.approx(summary["tissue_fraction"])
    preview = np.asarray(Image.open(folder / "mask.png"))
    assert preview.shape == mask.shape and 0 < preview.mean() < 255
    assert json.loads((folder / "summary.json").read_text()) == summary


async def test_cell_segmentation_of_the_real_slide(dataplane: DataPlane, blobs_model: Path) -> None:
    await dataplane.all()
    job = JobSpec(
        id="cells",
        type="cell_segmentation",
        slide=CMU,
        params={"model": str(blobs_model), "tile_size": 512, "halo": 64},
    )
    tenant, workflow = await dataplane.submit(job)

    events = await dataplane.finished(tenant, workflow)

    [planned] = of_type(events, "JobPlanned")
    grid = TileGrid.model_validate(planned.grid["grid"])
    assert grid.mpp == 1.0 and planned.grid["model_pixel_size"] == 1.0  # the model's pixel size
    assert planned.grid["level"] == 0
    assert 0 < planned.tiles_total < grid.n_tiles  # background tiles were dropped
    [done] = of_type(events, "JobSucceeded")
    summary = done.summary
    folder = dataplane.base["results_root"] / summary["results"]
    table = pq.read_table(folder / "cells.parquet").to_pydict()
    ids = table["id"]
    assert summary["cell_count"] == len(ids) > 100
    assert len(set(ids)) == len(ids)
    features = json.loads((folder / "cells.geojson").read_text())["features"]
    assert len(features) == len(ids)
    assert summary["model"] == "dark_blobs"
    model_file = blobs_model / "instanseg.pt"
    assert summary["model_sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert {"plan_s", "read_s", "forward_s", "post_s", "merge_s", "finalise_s", "wall_s"} <= set(
        summary["timings"]
    )
    assert summary["tissue_area_um2"] == pytest.approx(
        planned.tissue_fraction * 2220 * 2967 * 0.499**2, rel=1e-6
    )
    # every cell is owned by the tile whose core holds its centroid (level-0 -> grid space)
    s = grid.level0_per_px
    for cx, cy, tile in zip(
        table["centroid_x"], table["centroid_y"], table["tile_index"], strict=True
    ):
        assert grid.owner(cx / s, cy / s) == tile
    labels = zarr.open_group(str(folder / "labels.zarr"), mode="r")
    assert len(summary["label_levels"]) >= 2 and "ome" in labels.attrs
    painted = np.unique(np.asarray(labels["0"][:]))
    assert set(painted[painted > 0].tolist()) <= set(ids)
    assert len(painted) - 1 > 0.95 * len(ids)  # a few may be covered by lower-id neighbours


async def test_a_reused_mask_is_named_relative_to_the_results_root(
    dataplane: DataPlane, blobs_model: Path
) -> None:
    """Clients read plans and summaries: they name the mask job's output, not a server path."""
    await dataplane.all()
    mask = JobSpec(id="mask", type="tissue_mask", slide=CMU, branch="qc")
    cells = JobSpec(
        id="cells",
        type="cell_segmentation",
        slide=CMU,
        depends_on=["mask"],
        params={"model": str(blobs_model), "tile_size": 512, "halo": 64},
    )
    tenant, workflow = await dataplane.submit(mask, cells, start=False)
    await dataplane.start_job(tenant, workflow, "mask")
    await dataplane.finished(tenant, workflow)
    await dataplane.start_job(tenant, workflow, "cells")

    events = await dataplane.finished(tenant, workflow, jobs=2)

    [planned] = [e for e in of_type(events, "JobPlanned") if e.job_id == "cells"]
    [done] = [e for e in of_type(events, "JobSucceeded") if e.job_id == "cells"]
    source = f"{tenant}/{workflow}/mask/attempt-1"
    assert planned.grid["mask_source"] == done.summary["mask_source"] == source
    root = str(dataplane.base["results_root"])
    assert root not in json.dumps(planned.grid) and root not in json.dumps(done.summary)
    folder = dataplane.base["results_root"] / done.summary["results"]
    assert json.loads((folder / "summary.json").read_text()) == done.summary


async def test_a_real_instanseg_export_runs_through_the_pipeline(
    dataplane: DataPlane, tiny_instanseg: Path
) -> None:
    await dataplane.all()
    job = JobSpec(
        id="cells",
        type="cell_segmentation",
        slide=CMU,
        params={"model": str(tiny_instanseg), "tile_size": 256, "halo": 32, "batch_size": 2},
    )
    tenant, workflow = await dataplane.submit(job)

    events = await dataplane.finished(tenant, workflow)

    [done] = of_type(events, "JobSucceeded")  # untrained: it finds nothing, but it runs
    assert done.summary["model"] == "tiny_instanseg"
    assert done.summary["model_pixel_size"] == 2.0
    assert done.summary["tiles_done"] == done.summary["tiles_total"] > 0
    folder = dataplane.base["results_root"] / done.summary["results"]
    assert pq.read_table(folder / "cells.parquet").num_rows == done.summary["cell_count"]


async def test_bad_slides_and_models_fail_their_job_only(
    dataplane: DataPlane, dp_base: dict, tmp_path: Path, blobs_model: Path
) -> None:
    root = tmp_path / "slides"
    root.mkdir()
    (root / "corrupt.svs").write_bytes(b"II*\x00" + bytes(range(256)) * 64)
    tifffile.imwrite(root / "no-mpp.tif", np.full((512, 512, 3), 200, np.uint8), tile=(256, 256))
    shutil.copy(DATA_ROOT / CMU, root / CMU)
    dataplane.base = {**dp_base, "data_root": root}
    await dataplane.all()
    jobs = [
        JobSpec(id="corrupt", type="tissue_mask", slide="corrupt.svs", branch="a"),
        JobSpec(
            id="no-mpp",
            type="cell_segmentation",
            slide="no-mpp.tif",
            params={"model": str(blobs_model)},
            branch="b",
        ),
        JobSpec(
            id="no-model",
            type="cell_segmentation",
            slide=CMU,
            params={"model": str(tmp_path / "nowhere")},
            branch="c",
        ),
        JobSpec(id="fine", type="tissue_mask", slide=CMU, branch="d"),
    ]
    tenant, workflow = await dataplane.submit(*jobs)

    events = await dataplane.finished(tenant, workflow, jobs=4)

    failed = {e.job_id: e for e in of_type(events, "JobAttemptFailed")}
    assert set(failed) == {"corrupt", "no-mpp", "no-model"}
    assert not any(f.retryable for f in failed.values())
    assert "corrupt.svs" in failed["corrupt"].reason
    assert "not a slide format" in failed["corrupt"].reason or "corrupt" in failed["corrupt"].reason
    assert "no pixel size" in failed["no-mpp"].reason and "mpp" in failed["no-mpp"].reason
    assert "no such file" in failed["no-model"].reason
    [done] = of_type(events, "JobSucceeded")
    assert done.job_id == "fine" and done.summary["tissue_fraction"] > 0.2
    assert not {e.job_id for e in of_type(events, "JobPlanned")} & set(failed)


async def test_a_job_without_tissue_tiles_succeeds_empty(
    dataplane: DataPlane, blobs_model: Path
) -> None:
    await dataplane.all()
    job = JobSpec(
        id="cells",
        type="cell_segmentation",
        slide=CMU,
        params={"model": str(blobs_model), "min_tissue": 1.0},  # no tile is over 100 % tissue
    )
    tenant, workflow = await dataplane.submit(job)

    events = await dataplane.finished(tenant, workflow)

    assert of_type(events, "JobPlanned")[0].tiles_total == 0
    [done] = of_type(events, "JobSucceeded")
    assert done.summary["cell_count"] == 0 and done.summary["tiles_total"] == 0
    folder = dataplane.base["results_root"] / done.summary["results"]
    assert pq.read_table(folder / "cells.parquet").num_rows == 0
