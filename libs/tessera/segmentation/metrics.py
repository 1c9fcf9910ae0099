"""Instance matching: F1 at an IoU threshold and the mean IoU of matched pairs.

The overlap table is built from the pixels where both label images are foreground, with one
`np.unique` over packed (true, predicted) pairs: no Python loop over objects and no dense
true x predicted matrix, so a tile with thousands of nuclei costs the same as one with ten. For a
threshold of 0.5 or more a pair above the threshold is necessarily the only one for both objects
(two disjoint predictions cannot each cover more than half of a union), so matching needs no
assignment; below 0.5 the Hungarian algorithm picks the best one-to-one matching.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True)
class MatchCounts:
    """True positives, false positives, false negatives and the IoUs of the matched pairs."""

    tp: int
    fp: int
    fn: int
    matched_iou_sum: float

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + self.fn
        return 1.0 if denominator == 0 else 2 * self.tp / denominator

    @property
    def precision(self) -> float:
        return 1.0 if self.tp + self.fp == 0 else self.tp / (self.tp + self.fp)

    @property
    def recall(self) -> float:
        return 1.0 if self.tp + self.fn == 0 else self.tp / (self.tp + self.fn)

    @property
    def mean_matched_iou(self) -> float:
        return self.matched_iou_sum / self.tp if self.tp else 0.0

    def __add__(self, other: MatchCounts) -> MatchCounts:
        return MatchCounts(
            self.tp + other.tp,
            self.fp + other.fp,
            self.fn + other.fn,
            self.matched_iou_sum + other.matched_iou_sum,
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "f1": round(self.f1, 4),
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "mean_matched_iou": round(self.mean_matched_iou, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


EMPTY = MatchCounts(0, 0, 0, 0.0)


def match_instances(
    true: np.ndarray, predicted: np.ndarray, iou_threshold: float = 0.5
) -> MatchCounts:
    """Match two label images of the same shape (0 = background, ids need not be consecutive).

    A pair counts as a match when its IoU is strictly above `iou_threshold`.
    """
    if true.shape != predicted.shape:
        raise ValueError(f"label shapes differ: {true.shape} vs {predicted.shape}")
    true_ids, true_flat = np.unique(true.ravel(), return_inverse=True)
    pred_ids, pred_flat = np.unique(predicted.ravel(), return_inverse=True)
    # After np.unique, index 0 is background only when 0 occurs; shift so that 0 always is.
    true_flat = true_flat + (0 if true_ids[0] == 0 else 1)
    pred_flat = pred_flat + (0 if pred_ids[0] == 0 else 1)
    n_true = int(true_flat.max()) if true_flat.size else 0
    n_pred = int(pred_flat.max()) if pred_flat.size else 0

    true_area = np.bincount(true_flat, minlength=n_true + 1)
    pred_area = np.bincount(pred_flat, minlength=n_pred + 1)
    both = (true_flat > 0) & (pred_flat > 0)
    pairs, intersection = np.unique(
        true_flat[both].astype(np.int64) * (n_pred + 1) + pred_flat[both], return_counts=True
    )
    t, p = np.divmod(pairs, n_pred + 1)
    iou = intersection / (true_area[t] + pred_area[p] - intersection)

    if iou_threshold >= 0.5:
        matched = iou > iou_threshold
        matched_iou = iou[matched]
    else:
        candidates = iou > iou_threshold
        matrix = np.zeros((n_true + 1, n_pred + 1))
        matrix[t[candidates], p[candidates]] = iou[candidates]
        rows, cols = linear_sum_assignment(matrix, maximize=True)
        chosen = matrix[rows, cols]
        matched_iou = chosen[chosen > iou_threshold]
    tp = int(matched_iou.size)
    return MatchCounts(tp, n_pred - tp, n_true - tp, float(matched_iou.sum()))


def match_many(
    pairs: Iterable[tuple[np.ndarray, np.ndarray]], iou_threshold: float = 0.5
) -> MatchCounts:
    """Pool the counts of several (true, predicted) pairs: F1 over all objects, not per tile."""
    total = EMPTY
    for true, predicted in pairs:
        total = total + match_instances(true, predicted, iou_threshold)
    return total
