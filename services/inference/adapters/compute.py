"""Tiles → compact tile results: the forward pass, ownership, encoding (blocking; one thread).

Each function returns `(tile index, encoded result, seconds per stage)` per tile. The model runs
in micro-batches of the device's size under `torch.inference_mode` (inside `Predictor`).
"""

from __future__ import annotations

import time

import numpy as np

from tessera.segmentation.normalisation import NormalisationStats
from tessera.segmentation.predict import Predictor
from tessera.stitching.cells import cell_table
from tessera.stitching.encoding import encode_instances, encode_probability
from tessera.stitching.ownership import IdPacking, owned_instances
from tessera.tiling.blend import quantise_probability
from tessera.tiling.grid import TileGrid
from tessera.tiling.tissue import tissue_probability

TileResult = tuple[int, bytes, dict[str, float]]


def segment(
    predictor: Predictor,
    pixels: np.ndarray,
    stats: NormalisationStats,
    grid: TileGrid,
    tiles: tuple[int, ...],
    batch_size: int,
) -> list[TileResult]:
    """Owned instances of each tile, encoded (global ids packed for the grid's tile count)."""
    packing = IdPacking.for_tiles(grid.n_tiles)
    predictor.warm_up(grid.tile_size, grid.tile_size, batch_size, stats)
    out: list[TileResult] = []
    for start in range(0, len(tiles), batch_size):
        chunk = tiles[start : start + batch_size]
        t0 = time.perf_counter()
        labels = predictor(pixels[start : start + len(chunk)], stats)
        forward = (time.perf_counter() - t0) / len(chunk)
        for k, index in enumerate(chunk):
            t1 = time.perf_counter()
            tile = grid.tile(index)
            instances = owned_instances(labels[k], tile, packing)
            cells = cell_table(instances, grid, index)  # here, in parallel over the workers
            payload = encode_instances(index, (tile.read.x, tile.read.y), instances, cells=cells)
            out.append((index, payload, {"forward_s": forward, "post_s": time.perf_counter() - t1}))
    return out


def tissue(
    pixels: np.ndarray, threshold: float, grid: TileGrid, tiles: tuple[int, ...]
) -> list[TileResult]:
    """Tissue probability of each tile with the slide's threshold, as uint8."""
    out: list[TileResult] = []
    for k, index in enumerate(tiles):
        t0 = time.perf_counter()
        prob = quantise_probability(tissue_probability(pixels[k], threshold))
        tile = grid.tile(index)
        payload = encode_probability(index, (tile.read.x, tile.read.y), prob)
        out.append((index, payload, {"forward_s": time.perf_counter() - t0}))
    return out
