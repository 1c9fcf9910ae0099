from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zarr.storage import MemoryStore

from tessera.slides.deepzoom import DeepZoomGeometry
from tessera.slides.reader import best_level
from tessera.stitching.mask_writer import TissueMaskWriter
from tessera.stitching.overlay import (
    CELL_EDGE,
    CELL_FILL,
    TISSUE_FILL,
    JobOverlay,
    edges,
    paint,
    read_nearest,
    sample_indices,
)
from tessera.stitching.ownership import Instance
from tessera.stitching.writer import LabelImageWriter
from tessera.tiling.grid import TileGrid


def test_edges_are_the_inner_contour_of_every_region() -> None:
    values = np.zeros((8, 8), np.uint32)
    values[2:6, 1:4] = 7  # a 4 x 3 block
    values[2:6, 4:6] = 9  # touching another one
    found = edges(values)  # inner 6 x 6 of the 8 x 8 window
    inner = values[1:-1, 1:-1]
    assert not found[inner == 0].any()  # background is never an edge
    assert found[1:5, 0].all() and found[1:5, 2].all()  # 7's left side and its border with 9
    assert not found[2:4, 1].any()  # 7's interior
    assert found[1:5, 3].all() and found[1:5, 4].all()  # 9 is two wide: all edge


def test_a_region_running_past_the_window_has_no_edge_there() -> None:
    values = np.ones((5, 5), np.uint8)  # the margin is part of the region too
    assert not edges(values).any()
    values[0, :] = 0  # but nothing above the window
    assert edges(values)[0].all() and not edges(values)[1:].any()


def test_paint_fills_and_outlines_on_transparency() -> None:
    values = np.zeros((7, 7), np.uint32)
    values[1:6, 1:6] = 3
    rgba = paint(values, CELL_EDGE, CELL_FILL)
    assert rgba.shape == (5, 5, 4) and rgba.dtype == np.uint8
    assert tuple(rgba[2, 2]) == CELL_FILL and tuple(rgba[0, 0]) == CELL_EDGE
    values[1:6, 1:6] = 0
    assert paint(values, CELL_EDGE, CELL_FILL)[..., 3].max() == 0
    assert paint(np.full((3, 3), 1, np.uint8), CELL_EDGE)[0, 0, 3] == 0  # no fill given


def test_sample_indices_take_the_pixel_under_each_centre() -> None:
    # output pixels 1 level-0 pixel wide over an array of 2 level-0 pixels per pixel
    assert sample_indices(0.0, 6, 1.0, 2.0, 10).tolist() == [0, 0, 1, 1, 2, 2]
    # 4 wide over 1: every 4th, starting under the first centre (level-0 2.0)
    assert sample_indices(0.0, 3, 4.0, 1.0, 100).tolist() == [2, 6, 10]
    # outside the array: -1
    assert sample_indices(-2.0, 4, 1.0, 1.0, 2).tolist() == [-1, -1, 0, 1]
    assert sample_indices(1.0, 3, 1.0, 1.0, 2).tolist() == [1, -1, -1]


def test_pick_level_is_the_coarsest_not_coarser_than_the_tile() -> None:
    scales = [2.0, 4.0, 8.0, 16.0]
    assert best_level(scales, 1.0) == 0  # zoomed in past the finest: the finest
    assert best_level(scales, 4.0) == 1
    assert best_level(scales, 7.9) == 1
    assert best_level(scales, 8.05) == 2  # within 1 %: the same scale
    assert best_level(scales, 4096.0) == 3


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(st.integers(-1, 39), min_size=1, max_size=30),
    cols=st.lists(st.integers(-1, 29), min_size=1, max_size=30),
)
def test_read_nearest_is_fancy_indexing_with_holes(rows: list[int], cols: list[int]) -> None:
    array = np.arange(40 * 30, dtype=np.uint32).reshape(40, 30) + 1
    r, c = np.array(rows), np.array(cols)
    expected = array[np.ix_(np.maximum(r, 0), np.maximum(c, 0))]
    expected[r < 0, :] = 0
    expected[:, c < 0] = 0
    assert np.array_equal(read_nearest(Lazy.of(array), r, c), expected)


class Lazy:
    """An array that records how many elements are read from it (zeros unless given data)."""

    def __init__(self, shape: tuple[int, int], data: np.ndarray | None = None) -> None:
        self.shape = shape
        self.dtype = np.dtype(np.uint32)
        self.data = data
        self.read = 0

    @classmethod
    def of(cls, data: np.ndarray) -> Lazy:
        return cls(data.shape, data)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        ys, xs = (range(*k.indices(n)) for k, n in zip(key, self.shape, strict=True))
        self.read += len(ys) * len(xs)
        if self.data is not None:
            return self.data[key]
        return np.zeros((len(ys), len(xs)), self.dtype)

    def get_orthogonal_selection(self, selection: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        rows, cols = selection
        self.read += len(rows) * len(cols)
        if self.data is not None:
            return self.data[np.ix_(rows, cols)]
        return np.zeros((len(rows), len(cols)), self.dtype)


@pytest.mark.parametrize("levels", [1, 9])
def test_a_tile_reads_a_window_about_its_size_at_any_zoom(levels: int) -> None:
    """A 200k x 150k slide; labels at 2 level-0 pixels per pixel, halving `levels` times."""
    width, height = 200_000, 150_000
    scales = tuple(2.0 * 2**k for k in range(levels))
    arrays = tuple(Lazy((math.ceil(height / s), math.ceil(width / s))) for s in scales)
    overlay = JobOverlay("cells", arrays, scales)
    geometry = DeepZoomGeometry(width, height)
    bound = 4 * (geometry.tile_size + 2 * geometry.overlap + 2) ** 2
    for level in range(geometry.level_count):
        cols, rows = geometry.level_tiles[level]
        for col, row in {(0, 0), (cols // 2, rows // 2), (cols - 1, rows - 1)}:
            for array in arrays:
                array.read = 0
            assert overlay.tile(geometry, level, col, row) is None  # nothing drawn on zeros
            assert sum(a.read for a in arrays) <= bound, (level, col, row)


GRID = TileGrid(width=300, height=200, tile_size=64, halo=8, level0_per_px=2.0, mpp=1.0)


def label_image() -> JobOverlay:
    writer = LabelImageWriter.create(MemoryStore(), GRID, chunk=64)
    yy, xx = np.mgrid[-6:7, -6:7]
    disk = xx**2 + yy**2 <= 36
    writer.apply(0, [Instance(global_id=5, x=40, y=30, mask=disk)])
    writer.apply(1, [Instance(global_id=6, x=200, y=150, mask=disk)])
    writer.finalise()
    return JobOverlay.open_labels(writer.group.store)


def test_a_label_image_tile_is_the_labels_outlined_at_the_viewers_resolution() -> None:
    overlay = label_image()
    assert overlay.kind == "cells" and overlay.scales == (2.0, 4.0, 8.0, 16.0)  # to <= 64 px
    geometry = DeepZoomGeometry(600, 400)  # the slide the grid covers
    top = geometry.level_count - 1
    rgba = overlay.tile(geometry, top, 0, 0)
    assert rgba is not None and rgba.shape == (255, 255, 4)
    # level-0 pixel (x, y) shows grid pixel (x // 2, y // 2): the disk centred at grid (46, 36)
    assert tuple(rgba[73, 93]) == CELL_FILL
    assert tuple(rgba[73, 105]) == CELL_EDGE  # its rightmost column, grid 52: level-0 104, 105
    assert tuple(rgba[73, 103]) == CELL_FILL  # contours are one viewer pixel wide
    assert rgba[73, 106, 3] == 0  # past it
    assert overlay.tile(geometry, top, 2, 0) is None  # level-0 x 507.., y ..255: no cell
    whole = overlay.tile(geometry, 0, 0, 0)  # 1 x 1: the centre pixel, background
    assert whole is None


def test_a_tissue_mask_tile_is_a_translucent_fill() -> None:
    writer = TissueMaskWriter.create(MemoryStore(), GRID)
    for tile in GRID.tiles():
        writer.apply(tile.index, np.full((64, 64), 255 if tile.col == 0 else 0, np.uint8))
    writer.finalise()
    overlay = JobOverlay.open_mask(writer.group.store)
    assert overlay.kind == "tissue" and overlay.scales == (2.0,)
    geometry = DeepZoomGeometry(600, 400)
    rgba = overlay.tile(geometry, geometry.level_count - 1, 0, 0)
    assert rgba is not None
    assert tuple(rgba[100, 20]) == TISSUE_FILL
    assert rgba[100, 200, 3] == 0  # the first column of tiles holds 48 grid px = 96 level-0
