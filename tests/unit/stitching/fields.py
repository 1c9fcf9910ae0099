"""Synthetic label fields for the stitching tests."""

from __future__ import annotations

import numpy as np

from tessera.tiling.grid import Tile


def random_label_field(
    seed: int, height: int, width: int, max_diameter: int, count: int
) -> np.ndarray:
    """Objects (blobs of up to three disks, some non-convex) that may touch but not overlap."""
    rng = np.random.default_rng(seed)
    field = np.zeros((height, width), np.int32)
    label = 0
    r_max = max_diameter / 2
    for _ in range(count):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        # Work in the object's window only; lobes stay within r_max of the centre.
        y0, y1 = max(0, int(cy - r_max) - 1), min(height, int(cy + r_max) + 2)
        x0, x1 = max(0, int(cx - r_max) - 1), min(width, int(cx + r_max) + 2)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        blob = np.zeros(yy.shape, bool)
        for _ in range(rng.integers(1, 4)):
            r = rng.uniform(0.5, r_max / 2 + 0.5)
            oy, ox = rng.uniform(-1, 1, 2) * max(0.0, r_max - r - 0.5)
            blob |= (yy + 0.5 - cy - oy) ** 2 + (xx + 0.5 - cx - ox) ** 2 <= r * r
        window = field[y0:y1, x0:x1]
        if not blob.any() or (window[blob] != 0).any():
            continue
        label += 1
        window[blob] = label * 7 + 3  # sparse, non-consecutive values like a model's
    return field


def crop(field: np.ndarray, tile: Tile) -> np.ndarray:
    """The tile's read box of a field, zero outside the field (as white glass would be)."""
    r = tile.read
    out = np.zeros((r.height, r.width), field.dtype)
    h, w = field.shape
    y0, y1, x0, x1 = max(r.y, 0), min(r.y1, h), max(r.x, 0), min(r.x1, w)
    if y1 > y0 and x1 > x0:
        out[y0 - r.y : y1 - r.y, x0 - r.x : x1 - r.x] = field[y0:y1, x0:x1]
    return out
