"""InstanSeg's fragment clean-up on the label image."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.segmentation.fragments import remove_fragments


def _canvas() -> np.ndarray:
    return np.zeros((12, 12), np.int32)


def test_an_instance_keeps_only_its_largest_piece() -> None:
    labels = _canvas()
    labels[1:5, 1:5] = 3  # 16 px
    labels[8:10, 8:10] = 3  # a 4 px stray piece of the same instance
    labels[8:10, 1:3] = 5  # another instance, untouched
    out = remove_fragments(labels)
    assert (out == 3).sum() == 16 and not out[8:10, 8:10].any()
    assert (out == 5).sum() == 4


def test_pieces_touching_at_a_corner_are_one_piece() -> None:
    labels = _canvas()
    labels[1:4, 1:4] = 2
    labels[4:6, 4:6] = 2  # diagonal neighbour of (3, 3): 8-connected, as the flood fill grows
    np.testing.assert_array_equal(remove_fragments(labels), labels)


def test_a_hole_inside_one_instance_is_filled() -> None:
    labels = _canvas()
    labels[2:8, 2:8] = 4
    labels[4:6, 4:6] = 0
    out = remove_fragments(labels)
    assert (out[2:8, 2:8] == 4).all()


def test_background_enclosed_by_two_instances_or_open_to_the_edge_stays() -> None:
    labels = _canvas()
    labels[2:8, 2:5] = 1  # two instances that together ring a pocket at (4..5, 5)
    labels[2:8, 6:9] = 2
    labels[2:4, 5] = 1
    labels[6:8, 5] = 2
    labels[0:3, 10:12] = 6  # an instance at the tile's edge with a notch open to the edge
    labels[0, 11] = 0
    out = remove_fragments(labels)
    assert (out[4:6, 5] == 0).all()
    assert out[0, 11] == 0


def test_returns_a_copy_and_leaves_an_empty_tile_empty() -> None:
    labels = _canvas()
    labels[1:3, 1:3] = 7
    labels[9, 9] = 7
    out = remove_fragments(labels)
    assert labels[9, 9] == 7 and out[9, 9] == 0
    assert not remove_fragments(_canvas()).any()


def test_rejects_a_batch() -> None:
    with pytest.raises(ValueError, match="2-D"):
        remove_fragments(np.zeros((2, 8, 8), np.int32))
