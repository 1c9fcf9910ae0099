"""Percentile normalisation of RGB pixels, computed once per slide.

InstanSeg models expect each channel mapped so that its 0.1th percentile goes to 0 and its 99.9th to
1 (`instanseg.utils.utils.percentile_normalize`). InstanSeg computes those percentiles per image;
Tessera computes them once per slide from a sample of pixels, so that neighbouring tiles are scaled
identically and an almost empty tile is not stretched until its noise looks like nuclei. Training
uses the same convention (with jitter) so the model sees what inference will feed it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOW_PERCENTILE = 0.1
HIGH_PERCENTILE = 99.9
_MIN_RANGE = 1e-3  # InstanSeg's epsilon: a flat channel must not divide by zero


@dataclass(frozen=True)
class NormalisationStats:
    """Per-channel intensities that map to 0 (`low`) and 1 (`high`)."""

    low: tuple[float, float, float]
    high: tuple[float, float, float]

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """Scale uint8 (or float) pixels `(..., 3)` to float32."""
        low = np.asarray(self.low, dtype=np.float32)
        span = np.maximum(np.asarray(self.high, dtype=np.float32) - low, _MIN_RANGE)
        return (pixels.astype(np.float32) - low) / span

    def jittered(self, rng: np.random.Generator, amount: float) -> NormalisationStats:
        """Shift both ends by up to `amount` of the range, to tolerate slide-level error."""
        low = np.asarray(self.low)
        high = np.asarray(self.high)
        span = np.maximum(high - low, 1.0)
        low = low + rng.uniform(-amount, amount, 3) * span
        high = high + rng.uniform(-amount, amount, 3) * span
        return NormalisationStats(_triple(low), _triple(np.maximum(high, low + 1.0)))


def normalisation_stats(
    pixels: np.ndarray,
    low_percentile: float = LOW_PERCENTILE,
    high_percentile: float = HIGH_PERCENTILE,
) -> NormalisationStats:
    """Percentiles per channel of `pixels`, any shape ending in 3 (a tile, a stack, a sample).

    Pass a sample drawn across the slide (tissue and some background), not one tile.
    """
    flat = np.asarray(pixels).reshape(-1, 3)
    if flat.shape[0] == 0:
        raise ValueError("cannot compute normalisation statistics from zero pixels")
    low, high = np.percentile(flat, [low_percentile, high_percentile], axis=0)
    return NormalisationStats(_triple(low), _triple(high))


def _triple(values: np.ndarray) -> tuple[float, float, float]:
    a, b, c = (float(v) for v in values)
    return (a, b, c)
