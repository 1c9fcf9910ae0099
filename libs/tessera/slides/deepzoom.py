"""Deep Zoom geometry, exactly as `openslide.deepzoom.DeepZoomGenerator(limit_bounds=False)`
lays it out, so that layers drawn over a slide (a job's overlay) stack on its tiles in a viewer.

Level `level_count - 1` is the slide's level 0; every level below halves the one above, rounding
up, down to 1x1, so level k has `2 ** (level_count - 1 - k)` level-0 pixels per pixel. A level is
cut into `tile_size` squares from its top-left corner, the last column and row clipped, and each
tile is grown by `overlap` pixels on every side that has a neighbour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple
from xml.sax.saxutils import quoteattr

from tessera.errors import NotFound

TILE_SIZE = 254
OVERLAP = 1
DZI_NAMESPACE = "http://schemas.microsoft.com/deepzoom/2008"


class TileBox(NamedTuple):
    """A tile's pixels in its level: [x, x + width) x [y, y + height), overlap included."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class DeepZoomGeometry:
    """The Deep Zoom pyramid of a `width` x `height` (level-0 pixels) image."""

    width: int
    height: int
    tile_size: int = TILE_SIZE
    overlap: int = OVERLAP
    level_dimensions: tuple[tuple[int, int], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1 or self.tile_size < 1 or self.overlap < 0:
            raise ValueError(f"not a Deep Zoom geometry: {self!r}")
        size = (self.width, self.height)
        dims = [size]
        while size[0] > 1 or size[1] > 1:
            size = (max(1, math.ceil(size[0] / 2)), max(1, math.ceil(size[1] / 2)))
            dims.append(size)
        object.__setattr__(self, "level_dimensions", tuple(reversed(dims)))

    @property
    def level_count(self) -> int:
        return len(self.level_dimensions)

    @property
    def level_tiles(self) -> tuple[tuple[int, int], ...]:
        """(columns, rows) of tiles per level."""
        t = self.tile_size
        return tuple((math.ceil(w / t), math.ceil(h / t)) for w, h in self.level_dimensions)

    def downsample(self, level: int) -> int:
        """Level-0 pixels per pixel of `level`."""
        return int(2 ** (self.level_count - 1 - level))

    def tile_box(self, level: int, col: int, row: int) -> TileBox:
        """Where tile (col, row) of `level` lies in that level; NotFound outside the pyramid."""
        ident = f"{level}/{col}_{row}"
        if not 0 <= level < self.level_count:
            raise NotFound(
                "tile", ident, f"tile {ident}: no level {level} (levels 0..{self.level_count - 1})"
            )
        cols, rows = self.level_tiles[level]
        if not (0 <= col < cols and 0 <= row < rows):
            raise NotFound(
                "tile",
                ident,
                f"tile {ident}: level {level} has {cols} column(s) x {rows} row(s) of tiles",
            )
        w, h = self.level_dimensions[level]
        t, o = self.tile_size, self.overlap
        left, top = o * (col != 0), o * (row != 0)
        right, bottom = o * (col != cols - 1), o * (row != rows - 1)
        return TileBox(
            x=t * col - left,
            y=t * row - top,
            width=min(t, w - t * col) + left + right,
            height=min(t, h - t * row) + top + bottom,
        )

    def dzi(self, image_format: str) -> str:
        """The `.dzi` XML descriptor, byte for byte what `DeepZoomGenerator.get_dzi` writes."""
        return (
            f'<Image TileSize="{self.tile_size}" Overlap="{self.overlap}" '
            f'Format={quoteattr(image_format)} xmlns="{DZI_NAMESPACE}">'
            f'<Size Width="{self.width}" Height="{self.height}" /></Image>'
        )
