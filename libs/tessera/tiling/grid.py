"""The tile grid: cores that partition the slide, each read with a halo around it.

The grid lives in its own pixel space, the *grid space*: the slide resampled to the model's
pixel size, `level0_per_px` level-0 pixels per grid pixel (InstanSeg at 0.5 µm/px on a
0.25 µm/px scan: 2.0). Cores are `core_size` squares laid row-major from the origin and clipped
at the right and bottom edge, so they cover the slide exactly once; a tile's `read` box is its
core grown by `halo` on every side, always `tile_size` square so tiles batch together. Reads
past the slide's edge return white.

The halo must be at least the largest object's extent in grid pixels (`halo_for` sizes it from
µm): then an object whose centroid lies in a core is entirely inside that tile's read box,
which is what makes the ownership rule in `tessera.stitching.ownership` count every object
exactly once.

Tiles are identified by `index = row * cols + col`; a tile batch on the bus needs only the grid
(a handful of numbers) and the indices.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Box(BaseModel):
    """An integer rectangle [x, x + width) x [y, y + height)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    x: int
    y: int
    width: int = Field(ge=0)
    height: int = Field(ge=0)

    @property
    def x1(self) -> int:
        return self.x + self.width

    @property
    def y1(self) -> int:
        return self.y + self.height

    @property
    def area(self) -> int:
        return self.width * self.height

    def contains(self, x: float, y: float) -> bool:
        """Whether the point (x, y) lies in the half-open box."""
        return self.x <= x < self.x1 and self.y <= y < self.y1

    def intersection(self, other: Box) -> Box | None:
        """The overlap of two boxes, or None when they do not overlap."""
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1, y1 = min(self.x1, other.x1), min(self.y1, other.y1)
        if x1 <= x0 or y1 <= y0:
            return None
        return Box(x=x0, y=y0, width=x1 - x0, height=y1 - y0)


class Tile(BaseModel):
    """One tile: the `core` it owns and the `read` box (core + halo) the model sees."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    row: int
    col: int
    core: Box
    read: Box


class TileGrid(BaseModel):
    """A deterministic grid over a slide; every tile can be rebuilt from these fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    width: int = Field(gt=0, description="grid-space width (pixels at the model's size)")
    height: int = Field(gt=0)
    tile_size: int = Field(gt=0, description="side of the read box, halo included")
    halo: int = Field(ge=0)
    level0_per_px: float = Field(gt=0, description="level-0 pixels per grid pixel")
    mpp: float | None = Field(default=None, description="µm per grid pixel, when known")

    @model_validator(mode="after")
    def _core_not_empty(self) -> TileGrid:
        if self.tile_size - 2 * self.halo <= 0:
            raise ValueError(f"halo {self.halo} leaves no core in a {self.tile_size} tile")
        return self

    @property
    def core_size(self) -> int:
        return self.tile_size - 2 * self.halo

    @property
    def cols(self) -> int:
        return math.ceil(self.width / self.core_size)

    @property
    def rows(self) -> int:
        return math.ceil(self.height / self.core_size)

    @property
    def n_tiles(self) -> int:
        return self.rows * self.cols

    def tile(self, index: int) -> Tile:
        """The tile with this index."""
        if not 0 <= index < self.n_tiles:
            raise IndexError(f"tile {index} outside a grid of {self.n_tiles}")
        row, col = divmod(index, self.cols)
        c = self.core_size
        x, y = col * c, row * c
        core = Box(x=x, y=y, width=min(c, self.width - x), height=min(c, self.height - y))
        read = Box(x=x - self.halo, y=y - self.halo, width=self.tile_size, height=self.tile_size)
        return Tile(index=index, row=row, col=col, core=core, read=read)

    def tiles(self, indices: Iterable[int] | None = None) -> Iterator[Tile]:
        """All tiles in index order, or the ones named."""
        for index in range(self.n_tiles) if indices is None else indices:
            yield self.tile(index)

    def owner(self, x: float, y: float) -> int:
        """Index of the tile whose core holds the grid-space point (x, y)."""
        if not (0 <= x < self.width and 0 <= y < self.height):
            raise ValueError(f"point ({x}, {y}) outside the {self.width}x{self.height} grid")
        c = self.core_size
        return int(y // c) * self.cols + int(x // c)

    def level0_box(self, box: Box) -> tuple[float, float, float, float]:
        """A grid-space box in level-0 pixels, as (x0, y0, x1, y1) floats."""
        s = self.level0_per_px
        return (box.x * s, box.y * s, box.x1 * s, box.y1 * s)

    def level0_size(self) -> tuple[int, int]:
        """The slide's level-0 size the grid was planned for (rounded up)."""
        return (
            math.ceil(self.width * self.level0_per_px),
            math.ceil(self.height * self.level0_per_px),
        )


def plan_grid(
    slide_width: int,
    slide_height: int,
    *,
    slide_mpp: float,
    target_mpp: float,
    tile_size: int = 512,
    halo: int = 64,
) -> TileGrid:
    """Lay a grid over a slide of this level-0 size, for a model at `target_mpp` µm/px."""
    if slide_width <= 0 or slide_height <= 0:
        raise ValueError("slide dimensions must be positive")
    level0_per_px = target_mpp / slide_mpp
    return TileGrid(
        width=max(1, math.ceil(slide_width / level0_per_px - 1e-9)),
        height=max(1, math.ceil(slide_height / level0_per_px - 1e-9)),
        tile_size=tile_size,
        halo=halo,
        level0_per_px=level0_per_px,
        mpp=target_mpp,
    )


def halo_for(max_object_um: float, mpp: float, *, margin_px: int = 8) -> int:
    """The smallest halo (grid pixels) that holds an object `max_object_um` across."""
    return math.ceil(max_object_um / mpp) + margin_px


def batch_tiles(indices: Iterable[int], batch_size: int) -> list[tuple[int, ...]]:
    """Split tile indices into batches of at most `batch_size`, keeping their order."""
    if batch_size <= 0:
        raise ValueError("batch_size must be positive")
    items = list(indices)
    return [tuple(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]
