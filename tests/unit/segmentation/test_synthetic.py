"""Procedural tiles: reproducible from a seed, labels exactly on the drawn nuclei."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from tessera.segmentation.synthetic import (
    LAYOUTS,
    Nucleus,
    generate_tile,
    held_out_tiles,
    render_nucleus,
)


def test_same_seed_same_tile_and_different_seed_different_tile() -> None:
    a, b, c = generate_tile(7, 128), generate_tile(7, 128), generate_tile(8, 128)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)
    assert a.stats == b.stats
    assert not np.array_equal(a.image, c.image)


def test_types_shapes_and_consecutive_ids() -> None:
    tile = generate_tile(3, 96, layout="dense")
    assert tile.image.shape == (96, 96, 3) and tile.image.dtype == np.uint8
    assert tile.labels.shape == (96, 96) and tile.labels.dtype == np.int32
    ids = np.unique(tile.labels)
    assert ids[0] == 0 and len(ids) > 10
    assert np.array_equal(ids, np.arange(len(ids)))


@pytest.mark.parametrize("seed", range(6))
def test_every_label_is_one_connected_region(seed: int) -> None:
    labels = generate_tile(seed, 128, layout=("dense", "medium")[seed % 2]).labels
    for index, region in enumerate(ndi.find_objects(labels), start=1):
        assert region is not None, f"label {index} vanished"
        _, pieces = ndi.label(labels[region] == index)
        assert pieces == 1, f"label {index} is split into {pieces} pieces"


@pytest.mark.parametrize("layout", ["glass", "stroma"])
def test_background_layouts_have_no_nuclei(layout: str) -> None:
    tile = generate_tile(11, 128, layout=layout)
    assert tile.labels.max() == 0
    assert tile.image.std() > 0  # still textured, not a constant


def test_labels_mark_the_dark_hematoxylin_pixels() -> None:
    tile = generate_tile(5, 128, layout="medium", degrade=False)
    grey = tile.image.astype(float).mean(axis=2)
    inside = grey[tile.labels > 0]
    ring = ndi.binary_dilation(tile.labels > 0, iterations=3) & (tile.labels == 0)
    assert inside.mean() < grey[ring].mean() - 20


def test_mask_is_exactly_where_the_soft_edge_reaches_one_half() -> None:
    nucleus = Nucleus(20.0, 20.0, 8.0, 5.0, 0.4, ((0.05, 1.0), (0.03, 2.0)), 1.0, 0.5, ())
    rendered = render_nucleus(nucleus, (40, 40))
    assert rendered is not None
    _, mask, density = rendered
    assert mask.sum() == pytest.approx(np.pi * 8 * 5, rel=0.1)
    assert density[mask].min() > 0 and density[~mask].max() <= density[mask].max()
    assert render_nucleus(Nucleus(-50.0, -50.0, 4, 4, 0, (), 1, 0, ()), (40, 40)) is None


def test_every_layout_is_drawn_and_unknown_layout_is_refused() -> None:
    for layout in LAYOUTS:
        assert generate_tile(1, 64, layout=layout).layout == layout
    with pytest.raises(ValueError, match="unknown layout"):
        generate_tile(1, 64, layout="cartoon")


def test_held_out_tiles_are_fixed_and_not_the_small_integer_seeds() -> None:
    first, again = held_out_tiles(2, 64), held_out_tiles(2, 64)
    assert np.array_equal(first[1].image, again[1].image)
    training_like = [generate_tile(seed, 64).image for seed in range(20)]
    assert not any(np.array_equal(first[0].image, other) for other in training_like)
