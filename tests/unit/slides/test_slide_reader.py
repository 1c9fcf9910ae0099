from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tessera.slides.access import open_slide
from tessera.slides.reader import (
    SlideHandles,
    best_level,
    composite_on_white,
    read_box,
    read_overview,
    read_region,
    read_scaled,
)
from tessera.slides.synth import load_scene
from tessera.tiling.grid import plan_grid


def test_composite_on_white() -> None:
    rgba = np.array([[[10, 20, 30, 255], [0, 0, 0, 0], [100, 100, 100, 128]]], np.uint8)
    rgb = composite_on_white(rgba)
    assert rgb.tolist() == [[[10, 20, 30], [255, 255, 255], [177, 177, 177]]]


@pytest.mark.parametrize(
    ("target", "level"),
    [(0.5, 0), (1.0, 0), (2.0, 0), (3.99, 1), (4.0, 1), (15.0, 1), (16.0, 2), (500.0, 2)],
)
def test_best_level_never_upsamples(target: float, level: int) -> None:
    assert best_level((1.0, 4.0003, 16.0012), target) == level


def test_reads_rgb_and_fills_outside_with_white(cmu_small: Path) -> None:
    handle = open_slide(cmu_small)
    try:
        tile = read_region(handle, 0, (1000, 1000), (64, 48))
        assert tile.shape == (48, 64, 3) and tile.dtype == np.uint8
        assert tile.std() > 0  # real tissue, not a constant
        outside = read_region(handle, 0, (-100, 2967 - 10), (50, 50))
        assert (outside == 255).all()
        straddling = read_region(handle, 0, (2220 - 10, 0), (20, 20))
        assert (straddling[:, 10:] == 255).all()
    finally:
        handle.close()


def test_read_scaled_matches_a_downsampled_level0_read(synthetic_slide) -> None:
    handle = open_slide(synthetic_slide.path)
    try:
        origin = (200.0, 300.0)
        scaled = read_scaled(handle, origin, 2.0, (128, 96))
        full = read_region(handle, 0, (200, 300), (256, 192))
        reference = np.asarray(Image.fromarray(full).resize((128, 96), Image.Resampling.BILINEAR))
        assert scaled.shape == (96, 128, 3)
        # Same source level; only the filter support at the borders differs.
        assert np.abs(scaled.astype(int) - reference.astype(int))[4:-4, 4:-4].mean() < 2.0
        # At 4 level-0 px per pixel the coarser level is used and still agrees closely.
        coarse = read_scaled(handle, origin, 4.0, (64, 48))
        fine = np.asarray(Image.fromarray(full).resize((64, 48), Image.Resampling.BOX))
        assert np.abs(coarse.astype(int) - fine.astype(int))[2:-2, 2:-2].mean() < 12.0
    finally:
        handle.close()


def test_fractional_scale_keeps_tiles_aligned(synthetic_slide) -> None:
    """Two adjacent reads at a non-integer scale equal one read covering both."""
    handle = open_slide(synthetic_slide.path)
    try:
        s = 1.7
        both = read_scaled(handle, (100 * s, 50 * s), s, (200, 100))
        left = read_scaled(handle, (100 * s, 50 * s), s, (100, 100))
        right = read_scaled(handle, (200 * s, 50 * s), s, (100, 100))
        joined = np.concatenate([left, right], axis=1).astype(int)
        assert np.abs(joined - both.astype(int))[2:-2, 2:-2].max() <= 2
    finally:
        handle.close()


@pytest.mark.parametrize("target_mpp", [0.5, 1.0, 1.3])  # level 0, level 1, level 1 rescaled
def test_tiles_read_at_the_model_scale_line_up_with_ground_truth(
    synthetic_slide, target_mpp: float
) -> None:
    handle = open_slide(synthetic_slide.path)
    scene = load_scene(synthetic_slide.ground_truth)
    try:
        grid = plan_grid(1600, 1200, slide_mpp=0.25, target_mpp=target_mpp, tile_size=256, halo=32)
        for tile in grid.tiles():
            rgb = read_box(handle, grid, tile.read)
            assert rgb.shape == (256, 256, 3)
            labels = scene.render_labels(tile.read.x, tile.read.y, 256, 256, grid.level0_per_px)
            inside = labels > 0
            if inside.sum() > 100:
                dark = rgb[..., 0][inside] < 160
                assert dark.mean() > 0.95, tile.index  # a one-pixel shift gives ~0.7
    finally:
        handle.close()


def test_read_overview_covers_the_slide(synthetic_slide) -> None:
    handle = open_slide(synthetic_slide.path)
    try:
        overview = read_overview(handle, 16.0)
    finally:
        handle.close()
    assert overview.shape == (75, 100, 3)


def test_overview_read_in_bands_matches_one_read(synthetic_slide) -> None:
    handle = open_slide(synthetic_slide.path)
    try:
        banded = read_overview(handle, 6.0, band_rows=7).astype(int)
        whole = read_overview(handle, 6.0, band_rows=10_000).astype(int)
    finally:
        handle.close()
    assert banded.shape == whole.shape == (200, 267, 3)
    assert np.abs(banded - whole).max() <= 2  # resampling rounding at band edges at most


def test_handles_are_per_thread_and_reused(synthetic_slide, cmu_small: Path) -> None:
    handles = SlideHandles(max_per_thread=1)
    seen: dict[str, int] = {}

    def worker(name: str) -> None:
        first = handles.get(synthetic_slide.path)
        assert handles.get(synthetic_slide.path) is first
        seen[name] = id(first)

    threads = [threading.Thread(target=worker, args=(str(i),)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen.values())) == 3
    assert handles.open_count() == 3
    # A second slide in this thread evicts (and closes) the first.
    handles.get(synthetic_slide.path)
    handles.get(cmu_small)
    assert handles.open_count() == 4
    handles.close()
    assert handles.open_count() == 0
