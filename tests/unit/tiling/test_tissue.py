from __future__ import annotations

import numpy as np
import pytest

from tessera.slides.scene import Scene, SceneSpec
from tessera.tiling.grid import TileGrid
from tessera.tiling.tissue import (
    MIN_SATURATION_THRESHOLD,
    clean_mask,
    overview_scale,
    saturation,
    saturation_threshold,
    select_tiles,
    tile_tissue_fractions,
    tissue_fraction,
    tissue_mask,
    tissue_probability,
)


def test_saturation() -> None:
    rgb = np.array([[[128, 128, 128], [255, 0, 0], [0, 0, 0], [200, 100, 100]]], np.uint8)
    assert saturation(rgb)[0].tolist() == pytest.approx([0.0, 1.0, 0.0, 0.5])


def test_detects_synthetic_tissue() -> None:
    scene = Scene(SceneSpec(width=8000, height=6000, mpp=0.25, seed=4, tissue_fraction=0.4))
    overview = scene.render_rgb(0, 0, 500, 375, 16.0)
    truth = scene.render_tissue(0, 0, 500, 375, 16.0)
    mask = tissue_mask(overview)
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.95
    assert tissue_fraction(mask) == pytest.approx(0.4, abs=0.04)


def test_blank_glass_has_no_tissue() -> None:
    rng = np.random.default_rng(1)
    glass = np.clip(240 + rng.normal(0, 3, (200, 200, 3)), 0, 255).astype(np.uint8)
    assert saturation_threshold(glass) == pytest.approx(MIN_SATURATION_THRESHOLD, abs=0.02)
    assert not tissue_mask(glass).any()
    assert tissue_probability(glass, MIN_SATURATION_THRESHOLD).max() < 0.5


def test_clean_mask_drops_specks_and_fills_pinholes() -> None:
    mask = np.zeros((60, 60), bool)
    mask[10:50, 10:50] = True
    mask[30, 30] = False  # pinhole
    mask[2, 2] = True  # speck
    cleaned = clean_mask(mask, closing_px=0, min_object_px=4, min_hole_px=4)
    assert cleaned[30, 30] and not cleaned[2, 2]
    assert cleaned[10:50, 10:50].all() and cleaned.sum() == 1600


def test_tile_fractions_from_a_coarse_mask() -> None:
    # Grid at 2 level-0 px per px, 4 tiles of core 50; mask at 10 level-0 px per px.
    grid = TileGrid(width=100, height=100, tile_size=70, halo=10, level0_per_px=2.0)
    mask = np.zeros((20, 20), bool)
    mask[:5, :5] = True  # tissue only inside tile 0's core (level-0 [0, 50))
    core = tile_tissue_fractions(grid, mask, 10.0, box="core")
    assert core[0] == pytest.approx(0.25) and (core[1:] == 0).all()
    read = tile_tissue_fractions(grid, mask, 10.0, box="read")
    assert read[0] > 0 and (read[1:] == 0).all()
    assert select_tiles(read) == [0]
    mask[:, 9] = True  # a sliver in tile 1's halo only (level-0 x in [90, 100))
    assert tile_tissue_fractions(grid, mask, 10.0, box="core")[1] == 0
    assert tile_tissue_fractions(grid, mask, 10.0)[1] > 0


def test_overview_scale() -> None:
    assert overview_scale(10_000, 8_000, 0.25) == 32.0
    assert overview_scale(200_000, 100_000, 0.25) == pytest.approx(200_000 / 4096)
