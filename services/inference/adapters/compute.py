"""Tiles → compact tile results: the forward pass, then ownership and encoding (blocking).

`forward` runs on the worker's one forward thread, in micro-batches of the device's size under
`torch.inference_mode` (inside `Predictor`); `post` runs on the post-processing threads, so the
model starts on the next batch meanwhile. Results are `(tile index, encoded result, seconds per
stage)` per tile.
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


def forward(
    predictor: Predictor,
    pixels: np.ndarray,
    stats: NormalisationStats,
    tile_size: int,
    batch_size: int,
) -> tuple[np.ndarray, list[float]]:
    """The model's labels of every tile (fragments not yet cleaned: see `post`) and the forward
    seconds of each tile. Runs on the forward thread; everything after it does not need the model.
    """
    predictor.warm_up(tile_size, tile_size, batch_size, stats)
    labels = np.empty(pixels.shape[:3], np.int32)
    seconds: list[float] = []
    for start in range(0, len(pixels), batch_size):
        stop = min(start + batch_size, len(pixels))
        t0 = time.perf_counter()
        labels[start:stop] = predictor(pixels[start:stop], stats, clean=False)
        seconds += [(time.perf_counter() - t0) / (stop - start)] * (stop - start)
    return labels, seconds


def post(
    predictor: Predictor,
    labels: np.ndarray,
    grid: TileGrid,
    tiles: tuple[int, ...],
    forward_s: list[float],
) -> list[TileResult]:
    """Owned instances of each tile, encoded (global ids packed for the grid's tile count).

    Cleans fragments where the predictor leaves that to the labels, keeps the instances the tile
    owns, computes their cell rows (here, in parallel over the workers, not in the job's one
    merger) and encodes them.
    """
    packing = IdPacking.for_tiles(grid.n_tiles)
    out: list[TileResult] = []
    for k, index in enumerate(tiles):
        t0 = time.perf_counter()
        tile = grid.tile(index)
        instances = owned_instances(predictor.clean(labels[k]), tile, packing)
        cells = cell_table(instances, grid, index)
        payload = encode_instances(index, (tile.read.x, tile.read.y), instances, cells=cells)
        timings = {"forward_s": forward_s[k], "post_s": time.perf_counter() - t0}
        out.append((index, payload, timings))
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
