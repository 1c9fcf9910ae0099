"""Chunk-aligned, order-independent writer of the whole-slide label image (OME-Zarr style).

Tile results arrive in any order, possibly twice (redelivery). Each is painted into the chunks
it touches with one rule: a pixel holds the lowest global id that claims it (0 is background).
`min` is commutative, associative and idempotent, so the image after any set of tiles is the
same whatever their order and however often one was applied. Only a bounded cache of chunks is
in memory; the whole slide never is.

A chunk's read-modify-write must have one writer at a time: one writer object per job output.
Call `flush()` before acknowledging the messages applied so far: it writes dirty chunks and
records their tiles in a `tiles_done` ledger inside the store, which survives a restart.

The downsampled levels are kept up to date while tiles arrive (each flush carries the level-0
chunks it changed up the pyramid, in memory), so finishing a job only writes them out instead
of reading the whole level 0 back. They are written lazily (on eviction from their caches and
at `finalise`), so a restarted writer rebuilds them once from level 0 when it opens the store.

Layout of the group (Zarr v3; multiscale metadata per OME-Zarr 0.5 under `ome`):

    labels.zarr/
      0, 1, 2, ...            label pyramid, level k at 2**k grid pixels per pixel (nearest)
      tessera/tiles_done      uint8 per tile index, 1 once applied and flushed
    attributes: ome.multiscales (axes y, x in µm, or in level-0 pixels when the pixel size
    is unknown), tessera (grid, id packing, level-0 pixels per pixel of each level)
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import zarr

from tessera.stitching.chunks import (
    ChunkCache,
    StoreLike,
    TileLedger,
    iter_chunks,
    json_attr,
    open_array,
    store_of,
)
from tessera.stitching.ownership import IdPacking, Instance
from tessera.tiling.grid import TileGrid

OME_VERSION = "0.5"


class LabelImageWriter:
    """Paints owned instances into a chunked label image; see the module docstring."""

    def __init__(self, group: zarr.Group, *, cache_chunks: int = 64, fresh: bool = False) -> None:
        self.group = group
        meta = json_attr(group, "tessera")
        self.grid = TileGrid.model_validate(meta["grid"])
        self.packing = IdPacking(**meta["packing"])
        self.array = open_array(group, "0")
        self._ledger = TileLedger(group)
        self._cache = ChunkCache(self.array, cache_chunks, fresh=fresh)
        self.shapes = [(int(h), int(w)) for h, w in meta["levels"]]
        # Levels above 0 change a quarter as often per level: smaller caches (evicted chunks are
        # written out and read back when touched again).
        above = max(4, cache_chunks // 4)
        self._levels = [self._cache] + [
            ChunkCache(open_array(group, str(k)), above, fresh=fresh)
            for k in range(1, len(self.shapes))
        ]
        self._changed: set[tuple[int, int]] = set()  # level-0 chunks not yet carried up

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str] | StoreLike,
        grid: TileGrid,
        packing: IdPacking | None = None,
        *,
        chunk: int = 512,
        cache_chunks: int = 64,
        min_side: int | None = None,
    ) -> LabelImageWriter:
        """Create an empty label image for `grid` at `path` (replacing what was there), with
        its downsampled levels down to one that fits `min_side` (default: one chunk)."""
        packing = packing or IdPacking.for_tiles(grid.n_tiles)
        group = zarr.open_group(store_of(path), mode="w")
        shapes = pyramid_shapes((grid.height, grid.width), min_side or chunk)
        for level, shape in enumerate(shapes):
            _create_level(group, level, shape, chunk, packing.dtype)
        TileLedger.create(group, grid.n_tiles)
        group.attrs["tessera"] = {
            "grid": grid.model_dump(),
            "packing": {"local_bits": packing.local_bits, "dtype": packing.dtype},
            "levels": [list(s) for s in shapes],
        }
        return cls(group, cache_chunks=cache_chunks, fresh=True)  # every chunk empty

    @classmethod
    def open(
        cls, path: str | os.PathLike[str] | StoreLike, *, cache_chunks: int = 64
    ) -> LabelImageWriter:
        """Reopen an existing label image to carry on writing (after a restart).

        Its downsampled levels are rebuilt from level 0: the process that wrote them may not
        have written them out (a store from before levels were kept up to date gets them here).
        """
        group = zarr.open_group(store_of(path), mode="r+")
        meta = json_attr(group, "tessera")
        level0 = open_array(group, "0")
        chunk = int(level0.chunks[0])
        shapes = [(int(h), int(w)) for h, w in meta.get("levels", [])] or pyramid_shapes(
            (level0.shape[0], level0.shape[1]), chunk
        )
        for level in range(1, len(shapes)):
            target = _create_level(group, level, shapes[level], chunk, str(level0.dtype))
            _downsample_into(open_array(group, str(level - 1)), target, chunk)
        group.attrs["tessera"] = {**meta, "levels": [list(s) for s in shapes]}
        return cls(group, cache_chunks=cache_chunks)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.grid.height, self.grid.width)

    def apply(self, tile_index: int, instances: Sequence[Instance]) -> None:
        """Paint one tile's owned instances (lowest id wins on shared pixels)."""
        if instances:
            x0 = min(i.x for i in instances)
            y0 = min(i.y for i in instances)
            x1 = max(i.x + i.width for i in instances)
            y1 = max(i.y + i.height for i in instances)
            canvas = np.zeros((y1 - y0, x1 - x0), self.array.dtype)
            # highest id first, so that the lowest wins where a tile's instances overlap
            for inst in sorted(instances, key=lambda i: i.global_id, reverse=True):
                ty, tx = inst.y - y0, inst.x - x0
                canvas[ty : ty + inst.height, tx : tx + inst.width][inst.mask] = inst.global_id
            self._merge(canvas, x0, y0)
        self._ledger.mark(tile_index)

    def _merge(self, canvas: np.ndarray, x0: int, y0: int) -> None:
        h, w = self.shape
        cx0, cy0 = max(x0, 0), max(y0, 0)
        cx1, cy1 = min(x0 + canvas.shape[1], w), min(y0 + canvas.shape[0], h)
        if cx1 <= cx0 or cy1 <= cy0:
            return
        c = self._cache.chunk_size
        for gy in range(cy0 // c, (cy1 - 1) // c + 1):
            for gx in range(cx0 // c, (cx1 - 1) // c + 1):
                ys, ye = max(cy0, gy * c), min(cy1, (gy + 1) * c)
                xs, xe = max(cx0, gx * c), min(cx1, (gx + 1) * c)
                part = canvas[ys - y0 : ye - y0, xs - x0 : xe - x0]
                if not part.any():
                    continue
                block = self._cache.get(gy, gx)
                _paint_min(block[ys - gy * c : ye - gy * c, xs - gx * c : xe - gx * c], part)
                self._cache.mark_dirty(gy, gx)
                self._changed.add((gy, gx))

    def flush(self) -> None:
        """Persist dirty level-0 chunks, then mark the tiles applied since the last flush as
        done; carry the changed chunks up the pyramid (in memory: see the module docstring)."""
        self._carry_up()
        self._cache.flush()
        self._ledger.flush()

    def _carry_up(self) -> None:
        """Each changed chunk, subsampled, into its quarter of the chunk above, level by level
        (nearest: labels must not be averaged; chunk sides are even, so the quarters align)."""
        changed, self._changed = self._changed, set()
        half = self._cache.chunk_size // 2
        for below, above in zip(self._levels, self._levels[1:], strict=False):
            carried: set[tuple[int, int]] = set()
            for gy, gx in sorted(changed):
                sub = below.get(gy, gx)[::2, ::2]
                target = above.get(gy // 2, gx // 2)
                oy, ox = (gy % 2) * half, (gx % 2) * half
                target[oy : oy + sub.shape[0], ox : ox + sub.shape[1]] = sub
                above.mark_dirty(gy // 2, gx // 2)
                carried.add((gy // 2, gx // 2))
            changed = carried

    def tiles_done(self) -> np.ndarray:
        """Indices of tiles applied and flushed (survives a restart)."""
        return self._ledger.tiles_done()

    def read(self, y0: int, y1: int, x0: int, x1: int, level: int = 0) -> np.ndarray:
        """A region of a pyramid level (flushes first so it sees every applied tile)."""
        self._write_out()
        return np.asarray(open_array(self.group, str(level))[y0:y1, x0:x1])

    def finalise(self) -> list[tuple[int, int]]:
        """Flush every level and write the OME metadata; returns the shape of every level
        (they halve until one fits `min_side`, a chunk unless `create` was told otherwise)."""
        self._write_out()
        self._write_metadata(len(self.shapes))
        return list(self.shapes)

    def _write_out(self) -> None:
        self.flush()
        for level in self._levels[1:]:
            level.flush()

    def _write_metadata(self, levels: int) -> None:
        grid = self.grid
        unit_scale = grid.mpp if grid.mpp is not None else grid.level0_per_px
        unit = "micrometer" if grid.mpp is not None else None
        axes: list[dict[str, Any]] = [
            {"name": n, "type": "space", **({"unit": unit} if unit else {})} for n in ("y", "x")
        ]
        datasets: list[dict[str, Any]] = [
            {
                "path": str(k),
                "coordinateTransformations": [
                    {"type": "scale", "scale": [unit_scale * 2**k, unit_scale * 2**k]}
                ],
            }
            for k in range(levels)
        ]
        self.group.attrs["ome"] = {
            "version": OME_VERSION,
            "multiscales": [
                {"name": "cells", "axes": axes, "datasets": datasets, "type": "nearest"}
            ],
        }
        meta = json_attr(self.group, "tessera")
        meta["level0_per_px"] = [grid.level0_per_px * 2**k for k in range(levels)]
        self.group.attrs["tessera"] = meta


def _paint_min(target: np.ndarray, ids: np.ndarray) -> None:
    """target := min(target, ids) over ids != 0, with 0 in target meaning 'empty'."""
    claimed = ids != 0
    current = target[claimed]
    incoming = ids[claimed]
    target[claimed] = np.where((current == 0) | (incoming < current), incoming, current)


def pyramid_shapes(shape: tuple[int, int], min_side: int) -> list[tuple[int, int]]:
    """Level shapes from `shape`, halving (rounding up) until a level fits `min_side`."""
    shapes = [(int(shape[0]), int(shape[1]))]
    while max(shapes[-1]) > min_side:
        h, w = shapes[-1]
        shapes.append((math.ceil(h / 2), math.ceil(w / 2)))
    return shapes


def _create_level(
    group: zarr.Group, level: int, shape: tuple[int, int], chunk: int, dtype: str
) -> zarr.Array[Any]:
    return group.create_array(
        str(level),
        shape=shape,
        chunks=(chunk, chunk),
        dtype=dtype,
        fill_value=0,
        dimension_names=("y", "x"),
        overwrite=True,
    )


def _downsample_into(source: zarr.Array[Any], target: zarr.Array[Any], chunk: int) -> None:
    h, w = target.shape
    for rows, cols in iter_chunks((h, w), chunk):
        block = np.asarray(source[2 * rows.start : 2 * rows.stop, 2 * cols.start : 2 * cols.stop])
        target[rows, cols] = block[::2, ::2]  # nearest: labels must not be averaged
