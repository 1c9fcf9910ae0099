from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from tessera.slides import jpegtiles
from tessera.slides.access import open_slide
from tessera.slides.reader import decoded_level, read_box, read_region, read_scaled
from tessera.tiling.grid import plan_grid


def test_scale_one_reads_what_openslide_reads_on_an_aperio_rgb_slide(cmu_small: Path) -> None:
    # Aperio's tiles are abbreviated JPEG streams (shared tables) whose TIFF says RGB
    handle = open_slide(cmu_small)
    tiles = handle.jpeg_tiles
    assert tiles is not None and tiles.level_numbers == (0,)
    ours = tiles.read(0, 1, (200, 150), (700, 500))  # across tile borders (240 px tiles)
    np.testing.assert_array_equal(ours, read_region(handle, 0, (200, 150), (700, 500)))
    handle.close()


def test_a_file_decoded_otherwise_than_openslide_is_left_to_openslide(
    cmu_small: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # without the marker libjpeg takes the RGB components for YCbCr: the check on one tile
    # sees the colours differ and declines the file
    monkeypatch.setattr(jpegtiles, "_ADOBE_RGB", b"")
    handle = open_slide(cmu_small)
    assert handle.jpeg_tiles is None
    plain = read_scaled(handle, (100.0, 40.0), 2.0, (300, 200))
    np.testing.assert_array_equal(
        read_scaled(handle, (100.0, 40.0), 2.0, (300, 200), decode_scaled=True), plain
    )
    handle.close()


def test_tiles_decoded_at_half_scale_are_the_model_tiles(synthetic_slide) -> None:
    handle = open_slide(synthetic_slide.path)
    grid = plan_grid(1600, 1200, slide_mpp=0.25, target_mpp=0.5, tile_size=256, halo=32)
    for index in (0, 1, grid.cols + 1, grid.n_tiles - 1):  # inner, edge and corner tiles
        box = grid.tile(index).read
        fast = read_box(handle, grid, box, decode_scaled=True)
        slow = read_box(handle, grid, box)
        assert fast.shape == slow.shape == (256, 256, 3)
        inside = (slow < 250).any(axis=2)  # tissue: the slide's edge is filtered differently
        diff = np.abs(fast.astype(np.int16) - slow)[inside]
        # block averages in the frequency domain, not a bilinear filter: close, not equal
        assert diff.mean() < 3.0 and np.percentile(diff, 99) < 20
    # overlapping tiles see the same pixels where they overlap (no seams from the decoder)
    a, b = (read_box(handle, grid, grid.tile(i).read, decode_scaled=True) for i in (0, 1))
    step = grid.core_size
    np.testing.assert_array_equal(a[:, step:], b[:, : 256 - step])
    handle.close()


def test_a_slide_without_jpeg_tiles_reads_as_before(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (512, 512, 3), np.uint8)
    path = tmp_path / "deflate.tif"
    tifffile.imwrite(path, image, tile=(256, 256), compression="zlib", photometric="rgb")
    handle = open_slide(path)
    assert handle.jpeg_tiles is None
    np.testing.assert_array_equal(
        read_scaled(handle, (10.0, 20.0), 2.0, (100, 100), decode_scaled=True),
        read_scaled(handle, (10.0, 20.0), 2.0, (100, 100)),
    )
    handle.close()


@pytest.mark.parametrize(
    ("jpeg_levels", "downsamples", "target", "expected"),
    [
        ((0, 1, 2), (1.0, 4.0, 16.0), 2.0, (0, 2)),  # a 0.25 µm/px scan for a 0.5 µm/px model
        ((0, 1, 2), (1.0, 4.0, 16.0), 1.5, (0, 1)),  # never coarser than asked
        ((0, 1, 2), (1.0, 4.0, 16.0), 4.0, (1, 1)),  # a stored level beats decoding finer ones
        ((0, 1, 2), (1.0, 4.0, 16.0), 8.0, (1, 2)),
        ((0, 1, 2), (1.0, 4.0003, 16.001), 8.0, (1, 2)),  # Aperio's downsamples, within 1 %
        ((0, 1, 2), (1.0, 4.0, 16.0), 1000.0, (2, 8)),
        ((0,), (1.0, 32.0), 40.0, None),  # 1/8 of level 0 is finer than the stored level 1
    ],
)
def test_decoded_level(
    jpeg_levels: tuple[int, ...],
    downsamples: tuple[float, ...],
    target: float,
    expected: tuple[int, int] | None,
) -> None:
    assert decoded_level(downsamples, jpeg_levels, target) == expected
