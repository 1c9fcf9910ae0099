from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.tiling.blend import (
    accumulate,
    blend_window,
    quantise_probability,
    quantise_window,
    ramp,
    resolve,
    window_1d,
)
from tessera.tiling.grid import TileGrid


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 64))
def test_ramps_are_a_partition_of_unity(n: int) -> None:
    r = ramp(n)
    assert (r > 0).all() and (r < 1).all()
    assert np.allclose(r + r[::-1], 1.0)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 24), st.integers(1, 60), st.integers(20, 200))
def test_windows_on_a_grid_sum_to_one(halo: int, extra: int, size: int) -> None:
    core = 2 * halo + extra
    grid = TileGrid(width=size, height=1, tile_size=core + 2 * halo, halo=halo, level0_per_px=1)
    total = np.zeros(size + 2 * grid.tile_size)
    w = window_1d(grid.tile_size, halo)
    for tile in grid.tiles():
        x = tile.read.x + grid.tile_size
        total[x : x + grid.tile_size] += w
    # Inside the slide; the outer `halo` pixels have one tile only and rely on normalising.
    inner = total[grid.tile_size + halo : grid.tile_size + size - halo]
    assert np.allclose(inner, 1.0)


def _blend(
    grid: TileGrid, field: np.ndarray, order: list[int], *, flat: bool = False
) -> np.ndarray:
    num = np.zeros(field.shape, np.int64)
    den = np.zeros(field.shape, np.int64)
    window = blend_window(grid.tile_size, grid.halo)
    weight = quantise_window(np.ones_like(window) if flat else window)
    padded = np.pad(field, grid.tile_size)
    for index in order:
        r = grid.tile(index).read
        t = grid.tile_size
        prob = padded[r.y + t : r.y + 2 * t, r.x + t : r.x + 2 * t]
        # Each tile sees the field slightly differently near its edge, as a model would.
        noisy = prob.copy()
        noisy[:3] = 1 - noisy[:3]
        accumulate(num, den, quantise_probability(noisy), weight, (r.x, r.y))
    return resolve(num, den)


def test_blending_is_seamless_and_order_independent() -> None:
    grid = TileGrid(width=150, height=120, tile_size=64, halo=12, level0_per_px=1.0)
    yy, xx = np.mgrid[0:120, 0:150]
    field = 0.5 + 0.5 * np.sin(xx / 17.0) * np.cos(yy / 11.0)
    order = list(range(grid.n_tiles))
    blended = _blend(grid, field, order)
    rng = np.random.default_rng(0)
    shuffled = _blend(grid, field, list(rng.permutation(order)))
    assert np.array_equal(blended, shuffled)
    # Each tile's top rows were corrupted; where a neighbour overlaps, the window all but
    # hides them, where plain averaging shows a seam.
    inner = (slice(12, -12), slice(12, -12))
    assert np.abs(blended - field)[inner].max() < 0.05
    averaged = _blend(grid, field, order, flat=True)
    assert np.abs(averaged - field)[inner].max() > 0.3
