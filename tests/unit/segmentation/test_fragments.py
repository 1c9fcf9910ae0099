"""InstanSeg's fragment clean-up on the label image."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.measure import label

from tessera.segmentation.fragments import remove_fragments
from tessera.segmentation.nucls import load_tiles


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


def _reference(labels: np.ndarray) -> np.ndarray:
    """The clean-up done the straightforward way: skimage's pieces of equal label over the
    whole image, each instance's largest kept, then the holes of one instance filled."""
    out = labels.copy()
    pieces, count = label(out, background=0, connectivity=2, return_num=True)
    sizes = np.bincount(pieces.ravel(), minlength=count + 1)
    for value in np.unique(out[out > 0]):
        mine = np.unique(pieces[out == value])
        largest = mine[np.argsort(-sizes[mine], kind="stable")[0]]
        out[(out == value) & (pieces != largest)] = 0
    regions, n = ndi.label(out == 0)
    edge = set(np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]]).tolist())
    for region in range(1, n + 1):
        if region in edge:
            continue
        ring = ndi.binary_dilation(regions == region) & (regions != region)
        around = np.unique(out[ring])
        if len(around) == 1:
            out[regions == region] = around[0]
    return out


def test_real_nuclei_with_fragments_and_holes_as_the_straightforward_clean_up() -> None:
    """NuCLS masks (touching nuclei), each cut, sprinkled with stray pixels of the instances'
    values and holed, against `_reference`."""
    rng = np.random.default_rng(5)
    for tile in load_tiles():
        labels = tile.labels.astype(np.int32)
        values = np.unique(labels[labels > 0])
        h, w = labels.shape
        # stray pixels and small blobs of existing values, some touching other instances
        for _ in range(60):
            y, x = int(rng.integers(0, h - 2)), int(rng.integers(0, w - 2))
            labels[y : y + int(rng.integers(1, 3)), x : x + int(rng.integers(1, 3))] = rng.choice(
                values
            )
        # cuts through instances (a piece falls off) and holes inside them
        for value in rng.choice(values, size=min(8, len(values)), replace=False):
            rows, cols = np.nonzero(labels == value)
            labels[int(np.median(rows)), cols.min() : cols.max() + 1] *= (
                labels[int(np.median(rows)), cols.min() : cols.max() + 1] != value
            )
        for value in rng.choice(values, size=min(8, len(values)), replace=False):
            rows, cols = np.nonzero(labels == value)
            y, x = int(rows.mean()), int(cols.mean())
            if labels[y, x] == value:
                labels[y, x] = 0
        assert np.array_equal(remove_fragments(labels), _reference(labels)), tile.name
        assert np.array_equal(remove_fragments(labels.T), _reference(labels.T)), tile.name


def test_of_two_equal_pieces_the_first_in_raster_order_stays() -> None:
    labels = _canvas()
    labels[1, 1:3] = 1  # first met, and touching instance 2
    labels[2, 1:3] = 2
    labels[8, 8:10] = 1  # as large, alone
    cleaned = remove_fragments(labels)
    assert cleaned[1, 1] == 1 and cleaned[8, 8] == 0
    assert np.array_equal(cleaned, _reference(labels))


def test_random_small_label_images_as_the_straightforward_clean_up() -> None:
    """Holes, rings, fragments and touching instances of every shape a few pixels allow
    (whether a hole is enclosed is decided from the foreground's Euler number)."""
    rng = np.random.default_rng(8)
    for _ in range(1500):
        shape = (int(rng.integers(1, 10)), int(rng.integers(1, 10)))
        labels = rng.integers(1, int(rng.integers(2, 5)), shape) * (
            rng.random(shape) < rng.random()
        )
        assert np.array_equal(remove_fragments(labels), _reference(labels)), labels
