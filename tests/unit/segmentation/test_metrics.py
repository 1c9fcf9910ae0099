"""Instance matching on cases whose answer is known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.segmentation.metrics import MatchCounts, match_instances, match_many


def squares(*boxes: tuple[int, int, int, int], shape: tuple[int, int] = (20, 20)) -> np.ndarray:
    labels = np.zeros(shape, dtype=np.int32)
    for index, (y, x, h, w) in enumerate(boxes, start=1):
        labels[y : y + h, x : x + w] = index
    return labels


def test_identical_labels_score_one_whatever_the_ids() -> None:
    true = squares((0, 0, 4, 4), (10, 10, 5, 5))
    predicted = np.where(true == 1, 70, np.where(true == 2, 3, 0))
    counts = match_instances(true, predicted)
    assert (counts.tp, counts.fp, counts.fn) == (2, 0, 0)
    assert counts.f1 == 1.0 and counts.mean_matched_iou == 1.0


def test_missing_and_extra_objects() -> None:
    true = squares((0, 0, 4, 4), (10, 10, 5, 5))
    predicted = squares((0, 0, 4, 4), (15, 0, 3, 3))
    counts = match_instances(true, predicted)
    assert (counts.tp, counts.fp, counts.fn) == (1, 1, 1)
    assert counts.f1 == pytest.approx(0.5)


def test_threshold_is_strict_at_one_half() -> None:
    true = squares((0, 0, 4, 4))  # 16 px
    predicted = squares((0, 0, 4, 8))  # 32 px covering it: IoU exactly 0.5
    assert match_instances(true, predicted).tp == 0
    assert match_instances(true, squares((0, 0, 4, 7))).tp == 1  # IoU 16/28
    assert match_instances(true, squares((0, 0, 4, 7))).mean_matched_iou == pytest.approx(16 / 28)


def test_low_threshold_uses_one_to_one_assignment() -> None:
    true = squares((0, 0, 4, 8))  # one wide object
    predicted = squares((0, 0, 4, 4), (0, 4, 4, 4))  # split in two halves: IoU 0.5 each
    counts = match_instances(true, predicted, iou_threshold=0.3)
    assert (counts.tp, counts.fp, counts.fn) == (1, 1, 0)


def test_empty_images() -> None:
    empty = np.zeros((8, 8), dtype=np.int32)
    assert match_instances(empty, empty).f1 == 1.0
    counts = match_instances(empty, squares((0, 0, 2, 2), shape=(8, 8)))
    assert (counts.tp, counts.fp, counts.fn, counts.f1) == (0, 1, 0, 0.0)


def test_pooling_counts_objects_not_tiles() -> None:
    a = squares((0, 0, 4, 4))
    b = squares((0, 0, 4, 4), (5, 5, 4, 4), (10, 10, 4, 4))
    pooled = match_many([(a, a), (b, np.zeros_like(b))])
    assert pooled == MatchCounts(1, 0, 3, 1.0)
    assert pooled.f1 == pytest.approx(2 / 5)


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        match_instances(np.zeros((2, 2), np.int32), np.zeros((3, 2), np.int32))
