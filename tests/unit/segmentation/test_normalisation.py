"""Per-slide percentile normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.segmentation.normalisation import NormalisationStats, normalisation_stats


def test_percentiles_map_to_zero_and_one() -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(100_000, 3)).astype(np.uint8)
    stats = normalisation_stats(pixels)
    assert all(0 <= v <= 2 for v in stats.low) and all(253 <= v <= 255 for v in stats.high)
    scaled = stats.apply(pixels)
    assert scaled.dtype == np.float32
    assert np.percentile(scaled, 0.1, axis=0) == pytest.approx([0, 0, 0], abs=0.01)
    assert np.percentile(scaled, 99.9, axis=0) == pytest.approx([1, 1, 1], abs=0.01)


def test_flat_channel_does_not_divide_by_zero() -> None:
    stats = NormalisationStats((10.0, 10.0, 10.0), (10.0, 200.0, 10.0))
    out = stats.apply(np.full((2, 2, 3), 10, dtype=np.uint8))
    assert np.isfinite(out).all()


def test_jitter_is_bounded_and_keeps_order() -> None:
    stats = NormalisationStats((20.0, 10.0, 40.0), (240.0, 230.0, 250.0))
    rng = np.random.default_rng(1)
    for _ in range(50):
        moved = stats.jittered(rng, 0.05)
        assert all(h > lo for lo, h in zip(moved.low, moved.high, strict=True))
        assert abs(moved.low[0] - 20) <= 0.05 * 220 + 1e-6


def test_no_pixels_is_an_error() -> None:
    with pytest.raises(ValueError, match="zero pixels"):
        normalisation_stats(np.zeros((0, 3), dtype=np.uint8))
