"""Scores a model on held-out synthetic tiles and on the real NuCLS tiles.

Shared by training (validation), `tessera model evaluate` and `bench/model_quality.py`, so every
figure is produced the same way: through `Predictor`, with the same normalisation inference uses.
NuCLS tiles are scored at their own resolution: the tile is rescaled to the model's pixel size,
segmented, and the labels are resized back before matching, so the model is not flattered by a
coarser ground truth.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tessera.segmentation.metrics import EMPTY, MatchCounts, match_instances
from tessera.segmentation.normalisation import normalisation_stats
from tessera.segmentation.nucls import (
    SOURCE_PIXEL_SIZE_UM,
    LabelledTile,
    rescale,
    resize_labels,
)
from tessera.segmentation.predict import Predictor
from tessera.segmentation.synthetic import SyntheticTile


@dataclass(frozen=True)
class Score:
    counts: MatchCounts
    tiles: int
    seconds: float

    def as_dict(self) -> dict[str, float]:
        return {**self.counts.as_dict(), "tiles": self.tiles, "seconds": round(self.seconds, 2)}


def score_synthetic(predictor: Predictor, tiles: Sequence[SyntheticTile]) -> Score:
    """Pooled matching over synthetic tiles, each normalised with its slide statistics."""
    start = time.perf_counter()
    total = EMPTY
    for tile in tiles:
        predicted = predictor(tile.image[None], tile.stats)[0]
        total = total + match_instances(tile.labels, predicted)
    return Score(total, len(tiles), time.perf_counter() - start)


def score_nucls(
    predictor: Predictor, tiles: Sequence[LabelledTile], model_pixel_size: float
) -> Score:
    """Pooled matching over NuCLS tiles, at the tiles' own resolution."""
    start = time.perf_counter()
    total = EMPTY
    for tile in tiles:
        predicted = segment_at_model_resolution(predictor, tile.image, model_pixel_size)
        total = total + match_instances(tile.labels, predicted)
    return Score(total, len(tiles), time.perf_counter() - start)


def segment_at_model_resolution(
    predictor: Predictor,
    image: np.ndarray,
    model_pixel_size: float,
    source_pixel_size: float = SOURCE_PIXEL_SIZE_UM,
) -> np.ndarray:
    """Labels for `image` at its own size, segmented at the model's pixel size."""
    stats = normalisation_stats(image)
    dummy = np.zeros(image.shape[:2], dtype=np.int32)
    scaled, _ = rescale(image, dummy, source_pixel_size / model_pixel_size)
    predicted = predictor(scaled[None], stats)[0]
    return resize_labels(predicted, image.shape[:2])
