"""Overlay tiles of a job's output for a Deep Zoom viewer: cell contours, tissue fill.

A tile is drawn at the viewer's resolution: each output pixel takes the value under its centre
in the job's array (nearest: labels must not be averaged), read from the pyramid level closest
to the tile's scale without being coarser. A tile therefore reads a window of at most about
twice its size at any zoom, never the whole array; and contours, found after sampling, are one
pixel wide at every zoom. One pixel of margin is sampled around the tile so that a contour on
the tile's edge is found the same way as one inside it.

Tiles are RGBA on a transparent background, laid out by `tessera.slides.deepzoom`, so they stack
exactly on the slide's own Deep Zoom tiles.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import zarr

from tessera.slides.deepzoom import DeepZoomGeometry
from tessera.slides.reader import best_level
from tessera.stitching.chunks import StoreLike, json_attr, open_array, store_of
from tessera.tiling.grid import TileGrid

RGBA = tuple[int, int, int, int]
CELL_EDGE: RGBA = (0, 255, 64, 255)
CELL_FILL: RGBA = (0, 255, 64, 40)
TISSUE_EDGE: RGBA = (0, 170, 255, 220)
TISSUE_FILL: RGBA = (0, 170, 255, 70)
# A pyramid level within 1 % of the tile's scale counts as the same scale (float level scales).
# Past this many array pixels per sampled pixel, read only the sampled rows and columns.
DENSE_READ_FACTOR = 4

OverlayKind = Literal["cells", "tissue"]


def edges(values: np.ndarray) -> np.ndarray:
    """The non-zero pixels of the inner part of `values` (one pixel of margin around it) that
    differ from one of their four neighbours: the inner contour of every region."""
    inner = values[1:-1, 1:-1]
    differs: np.ndarray = inner != values[:-2, 1:-1]
    for neighbour in (values[2:, 1:-1], values[1:-1, :-2], values[1:-1, 2:]):
        differs |= inner != neighbour
    differs &= inner != 0
    return differs


def paint(values: np.ndarray, edge: RGBA, fill: RGBA | None = None) -> np.ndarray:
    """RGBA (h, w, 4) of a sampled window with one pixel of margin: `fill` over non-zero pixels,
    `edge` on their contours, transparent elsewhere."""
    inner = values[1:-1, 1:-1]
    rgba = np.zeros((*inner.shape, 4), np.uint8)
    if fill is not None:
        rgba[inner != 0] = fill
    rgba[edges(values)] = edge
    return rgba


def sample_indices(first: float, count: int, step: float, scale: float, size: int) -> np.ndarray:
    """Array indices under the centres of `count` output pixels.

    Output pixel i covers level-0 [first + i * step, first + (i + 1) * step); an array pixel
    covers `scale` level-0 pixels. Indices outside [0, size) are -1 (nothing there).
    """
    centres = first + (np.arange(count, dtype=np.float64) + 0.5) * step
    index = np.floor(centres / scale).astype(np.int64)
    index[(index < 0) | (index >= size)] = -1
    return index


def read_nearest(array: Any, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """`array[rows][:, cols]` for index vectors where -1 means 0, reading only what they need.

    A dense window is read as one slice; a sparse one (a coarse tile over a single-level array)
    reads only the sampled rows and columns, so only the chunks that hold them are decoded.
    """
    out = np.zeros((len(rows), len(cols)), array.dtype)
    take_r, take_c = rows >= 0, cols >= 0
    if not take_r.any() or not take_c.any():
        return out
    ur, inv_r = np.unique(rows[take_r], return_inverse=True)
    uc, inv_c = np.unique(cols[take_c], return_inverse=True)
    span_r, span_c = int(ur[-1] - ur[0] + 1), int(uc[-1] - uc[0] + 1)
    if span_r * span_c <= DENSE_READ_FACTOR * len(ur) * len(uc):
        window = np.asarray(array[int(ur[0]) : int(ur[-1]) + 1, int(uc[0]) : int(uc[-1]) + 1])
        block = window[np.ix_(ur - ur[0], uc - uc[0])]
    else:
        block = np.asarray(array.get_orthogonal_selection((ur, uc)))
    out[np.ix_(take_r, take_c)] = block[np.ix_(inv_r, inv_c)]
    return out


@dataclass(frozen=True)
class JobOverlay:
    """The drawable output of a finished job: its arrays, finest first, and their scales."""

    kind: OverlayKind
    levels: tuple[Any, ...]
    scales: tuple[float, ...]

    @classmethod
    def open(cls, job_dir: str | os.PathLike[str]) -> JobOverlay | None:
        """The overlay of a job's results folder (labels.zarr or mask.zarr); None if it has none."""
        folder = Path(job_dir)
        if (folder / "labels.zarr").is_dir():
            return cls.open_labels(folder / "labels.zarr")
        if (folder / "mask.zarr").is_dir():
            return cls.open_mask(folder / "mask.zarr")
        return None

    @classmethod
    def open_labels(cls, path: str | os.PathLike[str] | StoreLike) -> JobOverlay:
        """A finished label image (`LabelImageWriter.finalise`): the whole pyramid."""
        group = zarr.open_group(store_of(path), mode="r")
        meta = json_attr(group, "tessera")
        grid = TileGrid.model_validate(meta["grid"])
        scales = meta.get("level0_per_px") or [grid.level0_per_px]
        levels = tuple(open_array(group, str(k)) for k in range(len(scales)))
        return cls("cells", levels, tuple(float(s) for s in scales))

    @classmethod
    def open_mask(cls, path: str | os.PathLike[str] | StoreLike) -> JobOverlay:
        """A finished tissue mask (`TissueMaskWriter.finalise`): one level, 1 = tissue."""
        group = zarr.open_group(store_of(path), mode="r")
        grid = TileGrid.model_validate(json_attr(group, "tessera")["grid"])
        return cls("tissue", (open_array(group, "0"),), (grid.level0_per_px,))

    def sample(
        self, origin: tuple[float, float], size: tuple[int, int], level0_per_px: float
    ) -> np.ndarray:
        """Values under the centres of a (h + 2, w + 2) window of output pixels, each
        `level0_per_px` wide, whose inner (h, w) part starts at level-0 `origin` (x, y)."""
        level = best_level(self.scales, level0_per_px)
        array, scale = self.levels[level], self.scales[level]
        height, width = array.shape
        (x0, y0), (w, h) = origin, size
        rows = sample_indices(y0 - level0_per_px, h + 2, level0_per_px, scale, height)
        cols = sample_indices(x0 - level0_per_px, w + 2, level0_per_px, scale, width)
        return read_nearest(array, rows, cols)

    def tile(self, geometry: DeepZoomGeometry, level: int, col: int, row: int) -> np.ndarray | None:
        """RGBA pixels of Deep Zoom tile (col, row) of `level`; None when nothing is drawn on it.

        Raises NotFound for a tile outside the geometry.
        """
        box = geometry.tile_box(level, col, row)
        d = geometry.downsample(level)
        values = self.sample((box.x * d, box.y * d), (box.width, box.height), float(d))
        if not values.any():
            return None
        if self.kind == "cells":
            return paint(values, CELL_EDGE, CELL_FILL)
        return paint(values, TISSUE_EDGE, TISSUE_FILL)
