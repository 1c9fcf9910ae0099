"""Tissue detection: Otsu on saturation, morphology, and per-tile tissue fractions.

Glass is bright and grey, stained tissue is coloured, so HSV saturation separates them better
than brightness does (it ignores the scanner's white balance and faint dust). The threshold is
chosen once per slide with Otsu on a coarse overview, never per tile: a tile that is all tissue
or all glass has no valley for Otsu to find. A floor keeps a blank slide's noise from being
called tissue.

All sizes here are in pixels of the image passed in; callers pick the resolution
(`overview_scale`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from tessera.tiling.grid import TileGrid

# Saturation of glass with scanner noise stays below ~0.05; faint eosin starts around 0.08.
MIN_SATURATION_THRESHOLD = 0.06


def overview_scale(
    width: int, height: int, mpp: float, *, target_um: float = 8.0, max_side: int = 4096
) -> float:
    """Level-0 pixels per overview pixel: ~`target_um` µm/px, at most `max_side` px a side."""
    return max(target_um / mpp, max(width, height) / max_side, 1.0)


def saturation(rgb: np.ndarray) -> np.ndarray:
    """HSV saturation in [0, 1] of an RGB uint8 image (0 where the pixel is black)."""
    rgb = np.asarray(rgb)
    hi = rgb.max(axis=-1).astype(np.float32)
    lo = rgb.min(axis=-1).astype(np.float32)
    out = np.zeros(hi.shape, np.float32)
    np.divide(hi - lo, hi, out=out, where=hi > 0)
    return out


def saturation_threshold(rgb: np.ndarray, *, floor: float = MIN_SATURATION_THRESHOLD) -> float:
    """The slide's tissue threshold: Otsu on the saturation of an overview, at least `floor`."""
    sat = saturation(rgb).ravel()
    if sat.size == 0 or float(sat.max()) == float(sat.min()):
        return floor
    otsu = cast(Callable[[np.ndarray], float], threshold_otsu)  # skimage is untyped
    return max(float(otsu(sat)), floor)


def tissue_probability(
    rgb: np.ndarray,
    threshold: float,
    *,
    closing_px: int = 2,
    min_object_px: int = 16,
    min_hole_px: int = 16,
    smooth_px: float = 1.0,
) -> np.ndarray:
    """Tissue probability (float32 in [0, 1]) of an RGB region: threshold, clean, soften.

    The result is soft so that overlapping tiles blend into a seamless mask; pixels near a
    tile's edge, where morphology lacks context, get little weight in the blend.
    """
    mask = saturation(rgb) > threshold
    mask = clean_mask(
        mask, closing_px=closing_px, min_object_px=min_object_px, min_hole_px=min_hole_px
    )
    prob = mask.astype(np.float32)
    if smooth_px > 0:
        prob = ndimage.gaussian_filter(prob, smooth_px, mode="nearest")
    return np.clip(prob, 0.0, 1.0)


def clean_mask(
    mask: np.ndarray, *, closing_px: int = 2, min_object_px: int = 16, min_hole_px: int = 16
) -> np.ndarray:
    """Close small gaps, then drop specks and fill pinholes of a binary mask."""
    mask = np.asarray(mask, bool)
    if closing_px > 0:
        # Pad so closing does not glue tissue to the border of the region.
        pad = closing_px
        padded = np.pad(mask, pad, mode="edge")
        padded = ndimage.binary_closing(padded, structure=_disk(closing_px))
        mask = padded[pad:-pad, pad:-pad]
    if min_object_px > 0:
        mask = _drop_small(mask, min_object_px)
    if min_hole_px > 0:
        mask = ~_drop_small(~mask, min_hole_px)
    return mask


def _disk(radius: int) -> np.ndarray:
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disk: np.ndarray = yy * yy + xx * xx <= radius * radius
    return disk


def _drop_small(mask: np.ndarray, max_px: int) -> np.ndarray:
    # Own helper: scikit-image renamed this argument in 0.26 and warns on the old name.
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    keep = sizes > max_px
    keep[0] = False
    kept: np.ndarray = keep[labels]
    return kept


def tissue_mask(rgb: np.ndarray, threshold: float | None = None, **options: int) -> np.ndarray:
    """A binary tissue mask of a whole overview (threshold from Otsu when not given)."""
    if threshold is None:
        threshold = saturation_threshold(rgb)
    return clean_mask(saturation(rgb) > threshold, **options)


def tissue_fraction(mask: np.ndarray) -> float:
    """Fraction of the mask that is tissue."""
    mask = np.asarray(mask)
    return float(np.count_nonzero(mask)) / mask.size if mask.size else 0.0


def tile_tissue_fractions(
    grid: TileGrid, mask: np.ndarray, mask_level0_per_px: float, *, box: str = "read"
) -> np.ndarray:
    """Tissue fraction of each tile's `read` (default) or `core` box, from a coarse mask.

    Boxes are rounded outwards onto the mask, so a tile touching tissue by a sliver still
    counts; the `read` box also keeps tiles whose core has no tissue but whose halo does,
    which is where objects straddling a core edge are seen whole.
    """
    if box not in ("read", "core"):
        raise ValueError("box must be 'read' or 'core'")
    mask = np.asarray(mask, bool)
    mh, mw = mask.shape
    integral = np.zeros((mh + 1, mw + 1), np.int64)
    integral[1:, 1:] = np.cumsum(np.cumsum(mask, axis=0, dtype=np.int64), axis=1)
    scale = grid.level0_per_px / mask_level0_per_px  # mask pixels per grid pixel
    out = np.zeros(grid.n_tiles, np.float64)
    for tile in grid.tiles():
        b = tile.read if box == "read" else tile.core
        x0 = min(max(math.floor(b.x * scale), 0), mw)
        y0 = min(max(math.floor(b.y * scale), 0), mh)
        x1 = min(max(math.ceil(b.x1 * scale), 0), mw)
        y1 = min(max(math.ceil(b.y1 * scale), 0), mh)
        area = (x1 - x0) * (y1 - y0)
        if area:
            total = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
            out[tile.index] = total / area
    return out


def select_tiles(fractions: np.ndarray, min_fraction: float = 0.0) -> list[int]:
    """Indices of tiles with more than `min_fraction` tissue (background tiles dropped)."""
    return [int(i) for i in np.flatnonzero(np.asarray(fractions) > min_fraction)]
