from __future__ import annotations

import re

import openslide
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openslide.deepzoom import DeepZoomGenerator
from PIL import Image

from tessera.errors import NotFound
from tessera.slides.deepzoom import DeepZoomGeometry


def generator(width: int, height: int, tile_size: int, overlap: int) -> DeepZoomGenerator:
    """OpenSlide's own generator over an in-memory image of that size."""
    image = openslide.ImageSlide(Image.new("RGB", (width, height)))
    return DeepZoomGenerator(image, tile_size=tile_size, overlap=overlap, limit_bounds=False)


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(1, 3000),
    height=st.integers(1, 3000),
    tile_size=st.sampled_from([254, 256, 100, 7]),
    overlap=st.integers(0, 3),
    data=st.data(),
)
def test_the_geometry_is_openslides(
    width: int, height: int, tile_size: int, overlap: int, data: st.DataObject
) -> None:
    ours = DeepZoomGeometry(width, height, tile_size, overlap)
    theirs = generator(width, height, tile_size, overlap)
    assert ours.level_count == theirs.level_count
    assert ours.level_dimensions == theirs.level_dimensions
    assert ours.level_tiles == theirs.level_tiles
    assert ours.dzi("jpeg") == theirs.get_dzi("jpeg")
    assert ours.dzi("png") == theirs.get_dzi("png")
    level = data.draw(st.integers(0, ours.level_count - 1))
    cols, rows = ours.level_tiles[level]
    col, row = data.draw(st.integers(0, cols - 1)), data.draw(st.integers(0, rows - 1))
    box = ours.tile_box(level, col, row)
    (x0, y0), _, _ = theirs.get_tile_coordinates(level, (col, row))
    d = ours.downsample(level)
    assert (box.width, box.height) == theirs.get_tile_dimensions(level, (col, row))
    assert (box.x * d, box.y * d) == (x0, y0)  # one slide level: level-0 = box * downsample


def test_level_sizes_halve_rounding_up_to_one_pixel() -> None:
    g = DeepZoomGeometry(2220, 2967)
    assert g.level_count == 13
    assert g.level_dimensions[0] == (1, 1) and g.level_dimensions[-1] == (2220, 2967)
    assert g.level_dimensions[-2] == (1110, 1484)
    assert g.downsample(12) == 1 and g.downsample(0) == 4096
    assert g.level_tiles[-1] == (9, 12)


def test_tiles_overlap_only_towards_neighbours() -> None:
    g = DeepZoomGeometry(600, 300)  # full level: 3 x 2 tiles of 254
    assert tuple(g.tile_box(g.level_count - 1, 0, 0)) == (0, 0, 255, 255)
    assert tuple(g.tile_box(g.level_count - 1, 1, 1)) == (253, 253, 256, 47)
    assert tuple(g.tile_box(g.level_count - 1, 2, 0)) == (507, 0, 93, 255)
    assert tuple(g.tile_box(0, 0, 0)) == (0, 0, 1, 1)


@pytest.mark.parametrize(
    ("level", "col", "row", "needle"),
    [
        (11, 0, 0, "no level 11 (levels 0..10)"),
        (-1, 0, 0, "no level -1"),
        (10, 3, 0, "level 10 has 3 column(s) x 2 row(s)"),
        (10, 0, 2, "level 10 has 3 column(s) x 2 row(s)"),
        (0, 0, -1, "level 0 has 1 column(s) x 1 row(s)"),
    ],
)
def test_a_tile_outside_the_pyramid_is_not_found(
    level: int, col: int, row: int, needle: str
) -> None:
    with pytest.raises(NotFound, match=re.escape(needle)):
        DeepZoomGeometry(600, 300).tile_box(level, col, row)


def test_an_empty_image_has_no_geometry() -> None:
    with pytest.raises(ValueError):
        DeepZoomGeometry(0, 10)
