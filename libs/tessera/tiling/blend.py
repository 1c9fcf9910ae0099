"""Smooth weight windows for blending per-tile probabilities across tile overlaps.

Neighbouring tiles of a `TileGrid` overlap by 2 * halo pixels, centred on the core boundary.
The window is 1 inside the core minus the halo and follows a raised-cosine ramp across each
overlap; a falling ramp and its neighbour's rising ramp sum to exactly 1, so a blended value
equals the tiles' values wherever they agree and changes smoothly where they do not (no seams).
Ramps sample pixel centres and never reach 0, so a pixel covered by one tile only (a skipped
neighbour, the slide edge) is still defined after normalising by the summed weight.

Accumulation uses integers (`quantise_*`): sums of integers do not depend on the order tiles
arrive in, where float sums would differ in the last bits.
"""

from __future__ import annotations

import numpy as np

WEIGHT_SCALE = 1 << 15  # quantised weights are in [1, 32768]
PROBABILITY_SCALE = 255  # probabilities travel and accumulate as uint8


def ramp(n: int) -> np.ndarray:
    """A rising raised-cosine ramp of `n` samples in (0, 1); ramp + reversed ramp == 1."""
    if n <= 0:
        return np.zeros(0, np.float64)
    t = (np.arange(n) + 0.5) / n
    return 0.5 * (1.0 - np.cos(np.pi * t))


def window_1d(tile_size: int, halo: int) -> np.ndarray:
    """The 1-D window of a tile: ramps over the first and last 2 * halo pixels."""
    w = np.ones(tile_size, np.float64)
    overlap = min(2 * halo, tile_size // 2)
    if overlap > 0:
        up = ramp(overlap)
        w[:overlap] *= up
        w[tile_size - overlap :] *= up[::-1]
    return w


def blend_window(tile_size: int, halo: int) -> np.ndarray:
    """The separable 2-D window (float64, tile_size²) that weights a tile's pixels."""
    w = window_1d(tile_size, halo)
    return np.outer(w, w)


def quantise_window(window: np.ndarray) -> np.ndarray:
    """Window weights as int32 in [1, WEIGHT_SCALE] (never 0, see module docstring)."""
    weights: np.ndarray = np.maximum(np.rint(window * WEIGHT_SCALE), 1).astype(np.int32)
    return weights


def quantise_probability(prob: np.ndarray) -> np.ndarray:
    """Probabilities in [0, 1] as uint8 0..255."""
    quantised: np.ndarray = np.rint(np.clip(prob, 0.0, 1.0) * PROBABILITY_SCALE).astype(np.uint8)
    return quantised


def accumulate(
    num: np.ndarray,
    den: np.ndarray,
    prob_u8: np.ndarray,
    weight: np.ndarray,
    offset: tuple[int, int],
) -> None:
    """Add a tile's weighted probabilities into `num`/`den` (int arrays), in place.

    `offset` (x, y) is where the tile's top-left pixel falls in the accumulators; the parts of
    the tile outside them are ignored.
    """
    ox, oy = offset
    h, w = prob_u8.shape
    ah, aw = num.shape
    x0, y0 = max(ox, 0), max(oy, 0)
    x1, y1 = min(ox + w, aw), min(oy + h, ah)
    if x1 <= x0 or y1 <= y0:
        return
    tile = (slice(y0 - oy, y1 - oy), slice(x0 - ox, x1 - ox))
    wt = weight[tile].astype(np.int64)
    num[y0:y1, x0:x1] += wt * prob_u8[tile]
    den[y0:y1, x0:x1] += wt


def resolve(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Blended probability (float32 in [0, 1]) from the accumulators; 0 where nothing fell."""
    out = np.zeros(num.shape, np.float32)
    np.divide(num, den * float(PROBABILITY_SCALE), out=out, where=den > 0)
    return out
