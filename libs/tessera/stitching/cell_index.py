"""A finished job's cells, indexed for a viewer: the cell under a point, the cells in a box.

Cells are sorted into horizontal strips by centroid y, and within a strip by centroid x. The
sort key of a cell is the complex number `strip + x*1j`: numpy orders complex numbers by their
real part, then their imaginary part, so one `searchsorted` over the keys finds, for many
strips at once, where each strip's run of x in [x0, x1) begins and ends.

- `count(x0, y0, x1, y1)` counts the centroids in the half-open box [x0, x1) by [y0, y1) (boxes
  that tile a slide count each cell once): strips wholly inside the box's y range are counted
  from their x runs alone, the two edge strips by looking at their cells' y too.
- `at(x, y)` finds the cell whose polygon holds the point. No cell reaches farther than `reach`
  (the largest distance from a centroid to its bounding box's edge) from its centroid, so only
  the cells whose centroid lies within `reach` of the point are tested: their bounding box
  first, then their polygon (even-odd rule). Where polygons overlap (touching cells share no
  pixel, but their outlines can cross by a fraction of one), the nearest centroid wins.

Coordinates are level-0 pixels, as in the cell table (`tessera.stitching.cells`). Pure: built
from arrays (or a cell table), no I/O but `from_parquet`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tessera.stitching.cells import contour_points

COLUMNS = [
    "id",
    "centroid_x",
    "centroid_y",
    "area_px",
    "area_um2",
    "bbox_x0",
    "bbox_y0",
    "bbox_x1",
    "bbox_y1",
    "contour",
]
MIN_STRIP = 64.0  # level-0 px: strips no thinner, so a slide has at most a few thousand


@dataclass(frozen=True)
class Cell:
    """One cell as the index holds it (level-0 pixels; µm² is None without a pixel size)."""

    id: int
    centroid: tuple[float, float]
    area_px: float
    area_um2: float | None
    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1
    polygon: list[tuple[float, float]]  # closed ring


class CellIndex:
    """Cells sorted into strips for point and box queries; see the module docstring."""

    def __init__(
        self,
        ids: np.ndarray,
        centroids: np.ndarray,
        area_px: np.ndarray,
        area_um2: np.ndarray,
        bboxes: np.ndarray,
        points: np.ndarray,
        offsets: np.ndarray,
        *,
        strip_height: float | None = None,
    ) -> None:
        """`centroids` n x 2, `bboxes` n x 4 (x0, y0, x1, y1), `area_um2` NaN where unknown;
        the polygons are `points[offsets[k]:offsets[k + 1]]` (x, y). `strip_height` defaults to
        twice the cells' reach, and at least MIN_STRIP."""
        n = len(ids)
        centroids = np.asarray(centroids, np.float64).reshape(n, 2)
        bboxes = np.asarray(bboxes, np.float64).reshape(n, 4)
        reach = np.maximum(np.abs(bboxes[:, :2] - centroids), np.abs(bboxes[:, 2:] - centroids))
        self.reach = float(reach.max()) if n else 0.0
        self.strip_height = strip_height or max(MIN_STRIP, 2.0 * math.ceil(self.reach))
        strip = np.floor(centroids[:, 1] / self.strip_height)
        keys = strip + 1j * centroids[:, 0]
        order = np.argsort(keys, kind="stable")
        self._keys = keys[order]
        self._ids = np.asarray(ids, np.uint64)[order]
        self._xy = centroids[order]
        self._area_px = np.asarray(area_px, np.float64)[order]
        self._area_um2 = np.asarray(area_um2, np.float64)[order]
        self._bbox = bboxes[order]
        self._points = np.asarray(points).reshape(-1, 2)  # float32 from a cell table
        self._offsets = np.asarray(offsets, np.int64)
        self._order = order  # index row -> polygon number
        self._strips = (float(strip.min()), float(strip.max())) if n else (0.0, -1.0)

    def __len__(self) -> int:
        return len(self._ids)

    @classmethod
    def from_table(cls, table: pa.Table, *, strip_height: float | None = None) -> CellIndex:
        """The index of a cell table (`tessera.stitching.cells.CELL_SCHEMA`, or its COLUMNS)."""

        def column(name: str) -> np.ndarray:
            return np.asarray(table.column(name).to_numpy(zero_copy_only=False))

        points, lengths = contour_points(table)
        offsets = np.zeros(len(lengths) + 1, np.int64)
        offsets[1:] = np.cumsum(lengths)
        um2 = pc.fill_null(table.column("area_um2").cast(pa.float64()), math.nan)
        return cls(
            column("id"),
            np.column_stack([column("centroid_x"), column("centroid_y")]),
            column("area_px"),
            um2.to_numpy(zero_copy_only=False),
            np.column_stack([column(f"bbox_{c}") for c in ("x0", "y0", "x1", "y1")]),
            points,
            offsets,
            strip_height=strip_height,
        )

    @classmethod
    def from_parquet(cls, path: str | os.PathLike[str]) -> CellIndex:
        """The index of a job's `cells.parquet`."""
        return cls.from_table(pq.read_table(path, columns=COLUMNS))

    @property
    def nbytes(self) -> int:
        """What the index holds in memory, roughly."""
        arrays = (self._keys, self._ids, self._xy, self._area_px, self._area_um2, self._bbox)
        extra = self._points.nbytes + self._offsets.nbytes + self._order.nbytes
        return sum(a.nbytes for a in arrays) + extra

    def _strip(self, y: float) -> float:
        return float(math.floor(y / self.strip_height))

    def _runs(self, strips: np.ndarray, x0: float, x1: float) -> tuple[np.ndarray, np.ndarray]:
        """Per strip, the index rows of its cells with x0 <= x < x1: [lo, hi)."""
        lo = np.searchsorted(self._keys, strips + 1j * x0, side="left")
        hi = np.searchsorted(self._keys, strips + 1j * x1, side="left")
        return lo, hi

    def count(self, x0: float, y0: float, x1: float, y1: float) -> int:
        """Cells whose centroid lies in [x0, x1) by [y0, y1)."""
        if len(self) == 0 or x1 <= x0 or y1 <= y0:
            return 0
        first = max(self._strip(y0), self._strips[0])  # huge boxes: only strips with cells
        last = min(self._strip(y1), self._strips[1])
        if first > last:
            return 0
        strips = np.arange(first, last + 1, dtype=np.float64)
        lo, hi = self._runs(strips, x0, x1)
        total = int((hi[1:-1] - lo[1:-1]).sum())
        for k in {0, len(strips) - 1}:  # the edge strips: their cells' y decide
            y = self._xy[lo[k] : hi[k], 1]
            total += int(np.count_nonzero((y >= y0) & (y < y1)))
        return total

    def at(self, x: float, y: float) -> Cell | None:
        """The cell whose polygon holds (x, y), or None."""
        if len(self) == 0:
            return None
        r = self.reach
        strips = np.arange(self._strip(y - r), self._strip(y + r) + 1, dtype=np.float64)
        lo, hi = self._runs(strips, x - r, np.nextafter(x + r, math.inf))
        rows = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)])
        box = self._bbox[rows]
        rows = rows[(box[:, 0] <= x) & (x <= box[:, 2]) & (box[:, 1] <= y) & (y <= box[:, 3])]
        inside = [int(row) for row in rows if _contains(self._polygon(int(row)), x, y)]
        if not inside:
            return None
        best = min(inside, key=lambda row: float(np.hypot(*(self._xy[row] - (x, y)))))
        return self._cell(best)

    def _polygon(self, row: int) -> np.ndarray:
        k = int(self._order[row])
        return self._points[self._offsets[k] : self._offsets[k + 1]]

    def _cell(self, row: int) -> Cell:
        um2 = float(self._area_um2[row])
        cx, cy = self._xy[row].tolist()
        x0, y0, x1, y1 = self._bbox[row].tolist()
        return Cell(
            id=int(self._ids[row]),
            centroid=(cx, cy),
            area_px=float(self._area_px[row]),
            area_um2=None if math.isnan(um2) else um2,
            bbox=(x0, y0, x1, y1),
            polygon=[(float(px), float(py)) for px, py in self._polygon(row).tolist()],
        )


def _contains(ring: np.ndarray, x: float, y: float) -> bool:
    """Whether (x, y) is inside a ring (even-odd rule; closed or not)."""
    if len(ring) < 3:
        return False
    xa, ya = ring[:, 0], ring[:, 1]
    xb, yb = np.roll(xa, -1), np.roll(ya, -1)
    crosses = (ya > y) != (yb > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        at_x = xa + (y - ya) * (xb - xa) / (yb - ya)
    return bool(np.count_nonzero(crosses & (x < at_x)) % 2)
