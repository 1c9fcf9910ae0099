from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage.measure import find_contours

from tessera.stitching.contours import outer_rings_flat


def _skimage_ring(mask: np.ndarray) -> np.ndarray:
    padded = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), np.float32)
    padded[1:-1, 1:-1] = mask
    return max(find_contours(padded, 0.5), key=len)[:-1]  # without its closing point


def _rings(masks: list[np.ndarray]) -> list[np.ndarray]:
    points, lengths = outer_rings_flat(masks)
    return np.split(points, np.cumsum(lengths)[:-1])


masks = arrays(bool, st.tuples(st.integers(1, 9), st.integers(1, 9))).filter(np.any)


@settings(max_examples=300, deadline=None)
@given(st.lists(masks, min_size=1, max_size=6))
def test_rings_are_skimages_to_the_point(batch: list[np.ndarray]) -> None:
    # same points, same direction, same first point, the same ring kept among equals
    for mask, ring in zip(batch, _rings(batch), strict=True):
        np.testing.assert_array_equal(ring, _skimage_ring(mask))


def test_saddles_keep_the_inside_corners_apart() -> None:
    diagonal = np.array([[1, 0, 0], [0, 1, 1], [0, 1, 0]], bool)
    anti = diagonal[:, ::-1].copy()
    two_equal = np.array([[1, 0], [0, 1]], bool)  # two rings of 4 points: the first is kept
    batch = [diagonal, anti, two_equal]
    for mask, ring in zip(batch, _rings(batch), strict=True):
        np.testing.assert_array_equal(ring, _skimage_ring(mask))
    assert len(_rings([two_equal])[0]) == 4


def test_many_masks_of_a_tile_at_once() -> None:
    rng = np.random.default_rng(3)
    batch = [rng.random((rng.integers(3, 30), rng.integers(3, 30))) < 0.6 for _ in range(50)]
    batch = [m for m in batch if m.any()]
    for mask, ring in zip(batch, _rings(batch), strict=True):
        np.testing.assert_array_equal(ring, _skimage_ring(mask))
