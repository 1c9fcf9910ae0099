from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tessera.tiling.grid import Box, Tile, TileGrid, batch_tiles, halo_for, plan_grid

grids = st.builds(
    lambda w, h, core, halo: TileGrid(
        width=w, height=h, tile_size=core + 2 * halo, halo=halo, level0_per_px=1.0
    ),
    st.integers(1, 300),
    st.integers(1, 300),
    st.integers(4, 80),
    st.integers(0, 40),
)


@settings(max_examples=60, deadline=None)
@given(grids)
def test_cores_cover_the_grid_exactly_once(grid: TileGrid) -> None:
    cover = np.zeros((grid.height, grid.width), np.int32)
    for tile in grid.tiles():
        c = tile.core
        assert c.width > 0 and c.height > 0
        cover[c.y : c.y1, c.x : c.x1] += 1
        r = tile.read
        assert (r.width, r.height) == (grid.tile_size, grid.tile_size)
        assert (r.x, r.y) == (c.x - grid.halo, c.y - grid.halo)
    assert (cover == 1).all()


@settings(max_examples=60, deadline=None)
@given(grids, st.floats(0, 1, exclude_max=True), st.floats(0, 1, exclude_max=True))
def test_owner_is_the_tile_whose_core_holds_the_point(grid: TileGrid, fx: float, fy: float):
    x, y = fx * grid.width, fy * grid.height
    tile = grid.tile(grid.owner(x, y))
    assert tile.core.contains(x, y)


def test_plan_grid_at_the_model_pixel_size() -> None:
    grid = plan_grid(10_001, 6_000, slide_mpp=0.25, target_mpp=0.5, tile_size=512, halo=64)
    assert grid.level0_per_px == 2.0
    assert (grid.width, grid.height) == (5001, 3000)
    assert grid.core_size == 384
    assert (grid.cols, grid.rows) == (14, 8)
    last = grid.tile(grid.n_tiles - 1)
    assert last.core.x1 == 5001 and last.core.y1 == 3000
    assert grid.level0_box(last.core) == (4992 * 2, 2688 * 2, 5001 * 2, 3000 * 2)
    assert grid.level0_size() == (10002, 6000)


def test_grid_and_tiles_serialise() -> None:
    grid = plan_grid(3000, 2000, slide_mpp=0.499, target_mpp=0.5)
    assert TileGrid.model_validate_json(grid.model_dump_json()) == grid
    tile = grid.tile(3)
    assert Tile.model_validate_json(tile.model_dump_json()) == tile
    with pytest.raises(ValidationError):
        tile.index = 4  # type: ignore[misc]


def test_halo_must_leave_a_core() -> None:
    with pytest.raises(ValidationError, match="no core"):
        TileGrid(width=100, height=100, tile_size=64, halo=32, level0_per_px=1.0)


def test_tile_index_out_of_range() -> None:
    grid = TileGrid(width=100, height=100, tile_size=64, halo=8, level0_per_px=1.0)
    with pytest.raises(IndexError):
        grid.tile(grid.n_tiles)
    with pytest.raises(ValueError):
        grid.owner(100, 0)


def test_box_helpers() -> None:
    a = Box(x=0, y=0, width=10, height=10)
    assert a.intersection(Box(x=5, y=8, width=10, height=10)) == Box(x=5, y=8, width=5, height=2)
    assert a.intersection(Box(x=10, y=0, width=5, height=5)) is None
    assert a.contains(9.99, 0) and not a.contains(10, 0)


def test_batches_and_halo_sizing() -> None:
    assert batch_tiles(range(7), 3) == [(0, 1, 2), (3, 4, 5), (6,)]
    assert batch_tiles([], 3) == []
    assert halo_for(20.0, 0.5) == 48
