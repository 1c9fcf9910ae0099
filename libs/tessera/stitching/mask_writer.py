"""The tissue-mask job's output: per-tile probabilities blended into a binary mask.

Tiles are stored as they arrive, each in its own Zarr chunk (`tiles[index]`): storing is
idempotent (a redelivered tile overwrites itself with the same bytes) and the final blend
depends only on the set of tiles, not on their order. `finalise` then walks the output chunk by
chunk, blends the few tiles overlapping each chunk with the smooth window of
`tessera.tiling.blend` (integer sums, so exactly order-independent) and thresholds at 0.5.

Layout of the group:

    mask.zarr/
      0                     uint8 mask (1 = tissue), grid space, OME-Zarr 0.5 multiscales
      probability           uint8 blended probability (0..255)
      tiles                 uint8 (n_tiles, tile_size, tile_size), one chunk per tile
      tessera/tiles_done    uint8 per tile index
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from PIL import Image

from tessera.stitching.chunks import (
    StoreLike,
    TileLedger,
    iter_chunks,
    json_attr,
    open_array,
    store_of,
)
from tessera.tiling.blend import (
    accumulate,
    blend_window,
    quantise_window,
    resolve,
)
from tessera.tiling.grid import TileGrid

OME_VERSION = "0.5"


@dataclass(frozen=True)
class MaskSummary:
    """What a finished tissue mask says about its slide."""

    tissue_fraction: float
    tissue_pixels: int
    tissue_area_um2: float | None
    shape: tuple[int, int]
    tiles: int


class TissueMaskWriter:
    """Collects tissue tiles and blends them into the job's mask; see the module docstring."""

    def __init__(self, group: zarr.Group) -> None:
        self.group = group
        self.grid = TileGrid.model_validate(json_attr(group, "tessera")["grid"])
        self._tiles = open_array(group, "tiles")
        self._ledger = TileLedger(group)

    @classmethod
    def create(cls, path: str | os.PathLike[str] | StoreLike, grid: TileGrid) -> TissueMaskWriter:
        """Create an empty mask store for `grid` at `path` (replacing what was there)."""
        group = zarr.open_group(store_of(path), mode="w")
        t = grid.tile_size
        group.create_array(
            "tiles", shape=(grid.n_tiles, t, t), chunks=(1, t, t), dtype="uint8", fill_value=0
        )
        TileLedger.create(group, grid.n_tiles)
        group.attrs["tessera"] = {"grid": grid.model_dump()}
        return cls(group)

    @classmethod
    def open(cls, path: str | os.PathLike[str] | StoreLike) -> TissueMaskWriter:
        """Reopen an existing mask store to carry on."""
        return cls(zarr.open_group(store_of(path), mode="r+"))

    def apply(self, tile_index: int, probability_u8: np.ndarray) -> None:
        """Store one tile's probabilities (uint8, the tile's read box, tile_size²)."""
        t = self.grid.tile_size
        prob = np.asarray(probability_u8, np.uint8)
        if prob.shape != (t, t):
            raise ValueError(f"tile {tile_index}: expected {(t, t)}, got {prob.shape}")
        self._tiles[tile_index] = prob
        self._ledger.mark(tile_index)

    def flush(self) -> None:
        """Record the tiles stored since the last flush as done (call before acking)."""
        self._ledger.flush()

    def tiles_done(self) -> np.ndarray:
        """Indices of tiles stored and flushed."""
        return self._ledger.tiles_done()

    def finalise(
        self,
        preview_path: str | os.PathLike[str] | None = None,
        *,
        threshold: float = 0.5,
        chunk: int = 512,
        preview_max_side: int = 1024,
    ) -> MaskSummary:
        """Blend all stored tiles into `0` (mask) and `probability`; write a PNG preview."""
        self.flush()
        grid = self.grid
        shape = (grid.height, grid.width)
        done = set(self.tiles_done().tolist())
        weight = quantise_window(blend_window(grid.tile_size, grid.halo))
        arrays = {
            name: self.group.create_array(
                name,
                shape=shape,
                chunks=(chunk, chunk),
                dtype="uint8",
                fill_value=0,
                dimension_names=("y", "x"),
                overwrite=True,
            )
            for name in ("0", "probability")
        }
        tissue = 0
        for rows, cols in iter_chunks(shape, chunk):
            h, w = rows.stop - rows.start, cols.stop - cols.start
            num = np.zeros((h, w), np.int64)
            den = np.zeros((h, w), np.int64)
            for index in _tiles_over(grid, rows, cols):
                if index in done:
                    tile = grid.tile(index)
                    offset = (tile.read.x - cols.start, tile.read.y - rows.start)
                    accumulate(num, den, np.asarray(self._tiles[index]), weight, offset)
            prob = resolve(num, den)
            mask = prob >= threshold
            tissue += int(np.count_nonzero(mask))
            arrays["0"][rows, cols] = mask.astype(np.uint8)
            arrays["probability"][rows, cols] = np.rint(prob * 255).astype(np.uint8)
        self._write_metadata()
        if preview_path is not None:
            write_preview(arrays["0"], preview_path, max_side=preview_max_side)
        pixels = shape[0] * shape[1]
        area = tissue * grid.mpp**2 if grid.mpp is not None else None
        return MaskSummary(
            tissue_fraction=tissue / pixels,
            tissue_pixels=tissue,
            tissue_area_um2=area,
            shape=shape,
            tiles=len(done),
        )

    def _write_metadata(self) -> None:
        grid = self.grid
        scale = grid.mpp if grid.mpp is not None else grid.level0_per_px
        axes: list[dict[str, Any]] = [
            {"name": n, "type": "space", **({"unit": "micrometer"} if grid.mpp else {})}
            for n in ("y", "x")
        ]
        self.group.attrs["ome"] = {
            "version": OME_VERSION,
            "multiscales": [
                {
                    "name": "tissue",
                    "axes": axes,
                    "datasets": [
                        {
                            "path": "0",
                            "coordinateTransformations": [
                                {"type": "scale", "scale": [scale, scale]}
                            ],
                        }
                    ],
                }
            ],
        }
        meta = json_attr(self.group, "tessera")
        meta["level0_per_px"] = [grid.level0_per_px]
        self.group.attrs["tessera"] = meta


def _tiles_over(grid: TileGrid, rows: slice, cols: slice) -> list[int]:
    """Indices of tiles whose read box intersects the region."""
    c, halo = grid.core_size, grid.halo
    # A read box spans [col * c - halo, col * c - halo + tile_size).
    c0 = max(0, math.floor((cols.start + halo - grid.tile_size) / c) + 1)
    c1 = min(grid.cols - 1, math.floor((cols.stop - 1 + halo) / c))
    r0 = max(0, math.floor((rows.start + halo - grid.tile_size) / c) + 1)
    r1 = min(grid.rows - 1, math.floor((rows.stop - 1 + halo) / c))
    return [r * grid.cols + k for r in range(r0, r1 + 1) for k in range(c0, c1 + 1)]


def write_preview(
    mask: zarr.Array[Any], path: str | os.PathLike[str], *, max_side: int = 1024
) -> None:
    """A PNG of a 2-D 0/1 array, block-averaged to at most `max_side`, read in bands."""
    h, w = mask.shape
    f = max(1, math.ceil(max(h, w) / max_side))
    ph, pw = math.ceil(h / f), math.ceil(w / f)
    preview = np.zeros((ph, pw), np.uint8)
    band = max(1, 512 // f) * f
    for y in range(0, h, band):
        block = np.asarray(mask[y : min(y + band, h), :], np.float32)
        bh = block.shape[0]
        rows = math.ceil(bh / f)
        # Sum real pixels and count them, so edge blocks are not diluted by padding.
        sums = np.zeros((rows * f, pw * f), np.float32)
        counts = np.zeros_like(sums)
        sums[:bh, :w] = block
        counts[:bh, :w] = 1
        total = sums.reshape(rows, f, pw, f).sum(axis=(1, 3))
        n = counts.reshape(rows, f, pw, f).sum(axis=(1, 3))
        preview[y // f : y // f + rows] = np.rint(total / n * 255).astype(np.uint8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(preview).save(path)


def read_mask(path: str | os.PathLike[str] | StoreLike) -> tuple[np.ndarray, float]:
    """A finished tissue mask as (bool array, level-0 pixels per mask pixel), for tiling."""
    group = zarr.open_group(store_of(path), mode="r")
    grid = TileGrid.model_validate(json_attr(group, "tessera")["grid"])
    return np.asarray(open_array(group, "0")[:]) > 0, grid.level0_per_px
