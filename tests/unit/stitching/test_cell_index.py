"""The cell index against brute force: counts in boxes and the cell under a point."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.stitching.cell_index import CellIndex, _contains
from tessera.stitching.cells import cell_table
from tessera.stitching.ownership import Instance
from tessera.tiling.grid import TileGrid


def ring(cx: float, cy: float, rx: float, ry: float, sides: int) -> np.ndarray:
    """A closed convex polygon around (cx, cy) within the box of half-sizes rx, ry."""
    t = np.linspace(0, 2 * np.pi, sides, endpoint=False) + 0.3
    pts = np.column_stack([cx + rx * np.cos(t), cy + ry * np.sin(t)])
    return np.vstack([pts, pts[:1]])


def index_of(cells: list[tuple[float, float, float, float, int]], **options: float) -> CellIndex:
    rings = [ring(*cell) for cell in cells]
    n = len(cells)
    offsets = np.zeros(n + 1, np.int64)
    offsets[1:] = np.cumsum([len(r) for r in rings])
    points = np.vstack(rings) if rings else np.zeros((0, 2))
    bboxes = np.array([[*r.min(0), *r.max(0)] for r in rings]).reshape(n, 4)
    centroids = np.array([c[:2] for c in cells], np.float64).reshape(n, 2)
    area = np.array([c[2] * c[3] for c in cells])
    return CellIndex(
        np.arange(1, n + 1), centroids, area, area * 0.25, bboxes, points, offsets, **options
    )


coord = st.floats(0, 500, allow_nan=False)  # dense: many cells share a strip with a box edge
cells_st = st.lists(
    st.tuples(coord, coord, st.floats(0.5, 40), st.floats(0.5, 40), st.integers(3, 12)),
    max_size=120,
)
strip_st = st.sampled_from([None, 1.0, 7.5, 300.0])


@settings(max_examples=300, deadline=None)
@given(cells_st, strip_st, coord, coord, st.floats(0, 600), st.floats(0, 600))
def test_count_equals_brute_force(cells, strip, x0, y0, w, h) -> None:  # type: ignore[no-untyped-def]
    index = index_of(cells, strip_height=strip)
    xy = np.array([c[:2] for c in cells]).reshape(-1, 2)
    x1, y1 = x0 + w, y0 + h
    inside = (xy[:, 0] >= x0) & (xy[:, 0] < x1) & (xy[:, 1] >= y0) & (xy[:, 1] < y1)
    assert index.count(x0, y0, x1, y1) == int(inside.sum())


@settings(max_examples=300, deadline=None)
@given(cells_st, strip_st, st.data())
def test_the_cell_at_a_point_equals_brute_force(cells, strip, data) -> None:  # type: ignore[no-untyped-def]
    index = index_of(cells, strip_height=strip)
    if cells and data.draw(st.booleans()):  # near a cell, often inside it
        cx, cy, rx, ry, _ = data.draw(st.sampled_from(cells))
        x = cx + data.draw(st.floats(-1.2, 1.2)) * rx
        y = cy + data.draw(st.floats(-1.2, 1.2)) * ry
    else:
        x, y = data.draw(coord), data.draw(coord)
    holding = [k for k, cell in enumerate(cells) if _contains(ring(*cell), x, y)]
    found = index.at(x, y)
    if not holding:
        assert found is None
        return
    assert found is not None
    nearest = min(math.hypot(cells[k][0] - x, cells[k][1] - y) for k in holding)
    assert math.hypot(found.centroid[0] - x, found.centroid[1] - y) == nearest
    assert found.id - 1 in holding
    cx, cy, rx, ry, sides = cells[found.id - 1]
    assert found.area_px == rx * ry and found.area_um2 == rx * ry * 0.25
    assert np.allclose(found.polygon, ring(cx, cy, rx, ry, sides))


def test_inside_a_ring_by_the_even_odd_rule() -> None:
    ell = np.array([[0, 0], [4, 0], [4, 1], [1, 1], [1, 4], [0, 4], [0, 0]], np.float64)
    assert _contains(ell, 0.5, 3.5) and _contains(ell, 3.5, 0.5)
    assert not _contains(ell, 2, 2) and not _contains(ell, 5, 0.5) and not _contains(ell, -1, 1)
    assert not _contains(ell[:2], 0, 0)


def test_an_empty_index_answers_nothing() -> None:
    index = index_of([])
    assert len(index) == 0 and index.count(0, 0, 1e12, 1e12) == 0 and index.at(3, 3) is None


def test_huge_and_empty_boxes() -> None:
    index = index_of([(10, 10, 3, 3, 6), (4000, 900, 3, 3, 6)])
    assert index.count(0, 0, 1e15, 1e15) == 2
    assert index.count(10, 10, 10, 20) == 0  # zero width
    assert index.count(10, 10, 11, 11) == 1 and index.count(9, 9, 10, 10) == 0  # half-open


def test_from_a_cell_table_of_the_merger() -> None:
    grid = TileGrid(width=400, height=300, tile_size=128, halo=16, level0_per_px=2.0, mpp=0.5)
    yy, xx = np.mgrid[-6:7, -6:7]
    disk = xx**2 + yy**2 <= 36
    square = np.ones((5, 5), bool)
    table = cell_table(
        [
            Instance(global_id=7, x=20, y=30, mask=disk),
            Instance(global_id=9, x=60, y=30, mask=square),
        ],
        grid,
        0,
    )
    index = CellIndex.from_table(table)
    disk_cell = index.at((20 + 6.5) * 2, (30 + 6.5) * 2)
    assert disk_cell is not None and disk_cell.id == 7
    assert disk_cell.area_px == disk.sum() * 4 and disk_cell.area_um2 == pytest.approx(
        disk.sum() * 0.25
    )
    assert disk_cell.centroid == pytest.approx(((20 + 6.5) * 2, (30 + 6.5) * 2))
    assert disk_cell.bbox == (40.0, 60.0, 66.0, 86.0)
    assert disk_cell.polygon[0] == disk_cell.polygon[-1]
    assert index.at(41, 61) is None  # inside the bbox, outside the disk's cut corner
    square_cell = index.at(121, 61)  # just inside the square's corner pixel
    assert square_cell is not None and square_cell.id == 9
    assert index.count(0, 0, 400 * 2, 300 * 2) == 2 and index.count(0, 0, 100, 600) == 1
