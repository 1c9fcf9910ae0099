from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import zarr

from tessera.slides.scene import Scene, SceneSpec
from tessera.stitching.cells import cell_table
from tessera.stitching.encoding import encode_instances
from tessera.stitching.outputs import CellJobOutputs
from tessera.stitching.ownership import owned_instances
from tessera.tiling.grid import plan_grid

SCENE = Scene(SceneSpec(width=2400, height=1800, mpp=0.25, seed=5))
GRID = plan_grid(2400, 1800, slide_mpp=0.25, target_mpp=0.5, tile_size=192, halo=32)


def _payload(index: int, *, with_cells: bool = False) -> bytes:
    tile = GRID.tile(index)
    r = tile.read
    labels = SCENE.render_labels(r.x, r.y, r.width, r.height, GRID.level0_per_px)
    owned = owned_instances(labels, tile)
    cells = cell_table(owned, GRID, index) if with_cells else None
    return encode_instances(index, (r.x, r.y), owned, cells=cells)


def test_rows_from_the_worker_give_the_same_outputs_as_rows_made_here(tmp_path: Path) -> None:
    tables = []
    for with_cells in (False, True):
        outputs = CellJobOutputs.create(tmp_path / str(with_cells), GRID)
        for index in range(GRID.n_tiles):
            outputs.apply(_payload(index, with_cells=with_cells))
        outputs.finalise()
        tables.append(pq.read_table(tmp_path / str(with_cells) / "cells.parquet"))
    assert tables[0].num_rows > 0 and tables[0].equals(tables[1])


def test_a_cell_job_end_to_end_in_any_order_with_a_restart(tmp_path: Path) -> None:
    order = list(range(GRID.n_tiles))
    random.Random(3).shuffle(order)
    half = len(order) // 2
    outputs = CellJobOutputs.create(tmp_path / "job", GRID)
    for index in order[:half]:
        outputs.apply(_payload(index))
    outputs.flush()
    outputs.apply(_payload(order[half]))  # applied, never flushed: the process dies here
    outputs = CellJobOutputs.open(tmp_path / "job")
    assert sorted(outputs.tiles_done().tolist()) == sorted(order[:half])
    for index in order[half - 2 :]:  # redelivery overlaps what was already flushed
        outputs.apply(_payload(index))
    summary = outputs.finalise(extra={"timings": {"total_s": 1.0}})

    nuclei = SCENE.nuclei()
    assert summary["cell_count"] == len(nuclei)
    assert summary["tiles_done"] == GRID.n_tiles
    assert summary["timings"] == {"total_s": 1.0}
    assert json.loads((tmp_path / "job" / "summary.json").read_text()) == summary
    cells = pq.read_table(tmp_path / "job" / "cells.parquet")
    assert len(set(cells.column("id").to_pylist())) == len(nuclei)
    # Each centroid sits on a ground-truth nucleus centre (level-0 px).
    cx = cells.column("centroid_x").to_numpy()
    cy = cells.column("centroid_y").to_numpy()
    d = np.hypot(cx[:, None] - nuclei.x[None, :], cy[:, None] - nuclei.y[None, :]).min(axis=1)
    assert d.max() < 1.5
    labels = np.asarray(zarr.open_group(str(tmp_path / "job" / "labels.zarr"), mode="r")["0"][:])
    assert len(np.unique(labels)) - 1 == len(nuclei)
    geo = json.loads((tmp_path / "job" / "cells.geojson").read_text(encoding="utf-8"))
    assert len(geo["features"]) == len(nuclei)
