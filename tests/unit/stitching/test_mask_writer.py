from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from zarr.storage import MemoryStore

from tessera.slides.scene import Scene, SceneSpec
from tessera.stitching.encoding import decode, encode_probability
from tessera.stitching.mask_writer import TissueMaskWriter, read_mask, write_preview
from tessera.stitching.outputs import MaskJobOutputs
from tessera.tiling.blend import quantise_probability
from tessera.tiling.grid import plan_grid
from tessera.tiling.tissue import saturation_threshold, tissue_probability

SCENE = Scene(SceneSpec(width=12_000, height=9_000, mpp=0.25, seed=8, tissue_fraction=0.45))
GRID = plan_grid(12_000, 9_000, slide_mpp=0.25, target_mpp=8.0, tile_size=128, halo=16)
THRESHOLD = saturation_threshold(SCENE.render_rgb(0, 0, 375, 281, 32.0))


def _tile_probability(index: int) -> np.ndarray:
    r = GRID.tile(index).read
    rgb = SCENE.render_rgb(r.x, r.y, r.width, r.height, GRID.level0_per_px)
    return quantise_probability(tissue_probability(rgb, THRESHOLD))


def test_blended_mask_matches_the_tissue_and_has_no_seams(tmp_path: Path) -> None:
    outputs = MaskJobOutputs.create(tmp_path / "job", GRID)
    for index in reversed(range(GRID.n_tiles)):
        outputs.apply(encode_probability(index, (0, 0), _tile_probability(index)))
    outputs.flush()
    summary = outputs.finalise()
    mask, scale = read_mask(tmp_path / "job" / "mask.zarr")
    assert scale == GRID.level0_per_px and mask.shape == (GRID.height, GRID.width)
    truth = SCENE.render_tissue(0, 0, GRID.width, GRID.height, GRID.level0_per_px)
    assert (mask != truth).mean() < 0.01
    # Seams would show as disagreement concentrated on core boundaries.
    c = GRID.core_size
    boundary_cols = [k * c for k in range(1, GRID.cols)]
    near = np.zeros(mask.shape, bool)
    for x in boundary_cols:
        near[:, x - 2 : x + 2] = True
    assert (mask != truth)[near].mean() <= 2 * max((mask != truth)[~near].mean(), 1e-3)
    assert summary["tissue_fraction"] == pytest.approx(truth.mean(), abs=0.01)
    assert summary["tissue_area_um2"] == pytest.approx(mask.sum() * 64.0)
    with Image.open(tmp_path / "job" / "mask.png") as preview:
        assert preview.size == (GRID.width, GRID.height) and preview.mode == "L"
    assert (tmp_path / "job" / "summary.json").exists()


def test_order_and_redelivery_do_not_change_the_mask() -> None:
    probs = {i: _tile_probability(i) for i in range(GRID.n_tiles)}
    masks = []
    for order in (list(probs), [*reversed(probs), 0, 3]):
        writer = TissueMaskWriter.create(MemoryStore(), GRID)
        for index in order:
            writer.apply(index, decode(encode_probability(index, (0, 0), probs[index])).probability)
        writer.finalise()
        masks.append(np.asarray(writer.group["probability"][:]))
    assert np.array_equal(masks[0], masks[1])


def test_missing_tiles_are_background_and_counted() -> None:
    writer = TissueMaskWriter.create(MemoryStore(), GRID)
    writer.apply(0, np.full((128, 128), 255, np.uint8))
    summary = writer.finalise()
    assert summary.tiles == 1
    mask = np.asarray(writer.group["0"][:])
    core = GRID.tile(0).core
    assert mask[: core.y1, : core.x1].all()
    assert mask[:, core.x1 + 16 :].sum() == 0
    with pytest.raises(ValueError, match="expected"):
        writer.apply(1, np.zeros((10, 10), np.uint8))


def test_preview_is_block_averaged_down_to_max_side(tmp_path: Path) -> None:
    import zarr

    mask = np.zeros((2500, 100), np.uint8)
    mask[:1500] = 1
    array = zarr.create_array(MemoryStore(), shape=mask.shape, chunks=(512, 512), dtype="uint8")
    array[:] = mask
    write_preview(array, tmp_path / "p.png", max_side=1000)
    with Image.open(tmp_path / "p.png") as image:
        pixels = np.asarray(image)
    assert pixels.shape == (834, 34)  # factor 3
    assert (pixels[:500] == 255).all() and (pixels[501:] == 0).all()
