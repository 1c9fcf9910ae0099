"""The real NuCLS tiles: loading, the held-out split, rescaling and augmentation."""

from __future__ import annotations

import numpy as np

from tessera.segmentation.nucls import (
    HELD_OUT,
    augmented_crop,
    load_tiles,
    mosaic,
    split_tiles,
    stain_jitter,
    to_model_resolution,
)


def test_ten_tiles_split_eight_and_two() -> None:
    tiles = load_tiles()
    assert len(tiles) == 10
    train, held_out = split_tiles(tiles)
    assert len(train) == 8 and sorted(t.name for t in held_out) == sorted(HELD_OUT)
    assert all(t.image.shape == (256, 256, 3) and t.labels.max() > 10 for t in tiles)


def test_model_resolution_halves_the_tile_and_keeps_nuclei() -> None:
    tile = load_tiles()[0]
    scaled = to_model_resolution(tile, 0.5)
    assert scaled.image.shape == (128, 128, 3) and scaled.labels.shape == (128, 128)
    kept = set(np.unique(scaled.labels)) - {0}
    assert len(kept) >= 0.9 * (len(np.unique(tile.labels)) - 1)


def test_augmented_crop_is_normalised_and_reproducible() -> None:
    tile = load_tiles()[1]
    a = augmented_crop(np.random.default_rng(3), tile, 128, 0.5)
    b = augmented_crop(np.random.default_rng(3), tile, 128, 0.5)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    image, labels = a
    assert image.shape == (128, 128, 3) and image.dtype == np.float32
    assert -1.0 < image.mean() < 1.5
    assert labels.max() > 0


def test_mosaic_labels_are_unique_across_crops() -> None:
    tiles = load_tiles()
    image, labels = mosaic(np.random.default_rng(0), tiles, 256, 0.5)
    assert image.shape == (256, 256, 3) and labels.shape == (256, 256)
    quarters = [labels[:128, :128], labels[:128, 128:], labels[128:, :128], labels[128:, 128:]]
    ids = [set(np.unique(q)) - {0} for q in quarters]
    assert all(ids) and sum(len(s) for s in ids) == len(set().union(*ids))


def test_stain_jitter_changes_colour_not_layout() -> None:
    tile = load_tiles()[2]
    jittered = stain_jitter(np.random.default_rng(5), tile.image)
    assert jittered.shape == tile.image.shape and jittered.dtype == np.uint8
    assert not np.array_equal(jittered, tile.image)
    grey, grey_j = tile.image.mean(axis=2), jittered.mean(axis=2)
    assert np.corrcoef(grey.ravel(), grey_j.ravel())[0, 1] > 0.8
