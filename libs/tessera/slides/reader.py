"""Reading slide regions as RGB arrays, at a pyramid level or at any pixel size.

Regions come back as `uint8` arrays of shape (height, width, 3), whichever backend reads the
slide (`tessera.slides.formats`). Backends mark areas outside the scanned region (and past the
slide's edge) as transparent; they are composited onto white so they look like glass, which is
what tissue detection and the models expect.

Reading at a pixel size picks the coarsest level that is still at least as fine as the target
and resamples down from it: resampling down keeps detail, resampling up from a coarser level
would invent it. The resampling box is computed in floating point from level-0 coordinates, so
neighbouring tiles read at a non-integer scale stay aligned to a fraction of a pixel.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from tessera.slides.formats import Slide, open_slide
from tessera.slides.jpegtiles import SCALES, JpegTiles
from tessera.tiling.grid import Box, TileGrid

# A level whose downsample is within 1 % of the target is used as is (Aperio writes 4.0003).
LEVEL_TOLERANCE = 0.01


def read_region(
    handle: Slide, level: int, location: tuple[int, int], size: tuple[int, int]
) -> np.ndarray:
    """Read `size` (w, h) pixels of `level` at level-0 `location`, as RGB on white."""
    w, h = size
    if w <= 0 or h <= 0:
        return np.full((max(h, 0), max(w, 0), 3), 255, np.uint8)
    # Read only up to the level's right and bottom edge (plus one pixel for a fractional
    # start): OpenSlide would allocate and composite the whole box, which for a coarse tile
    # over a small slide is mostly glass (a 512 px tile at 16x: 8192² RGBA, seconds).
    lw, lh = handle.level_dimensions[level]
    d = float(handle.level_downsamples[level])
    keep_w = min(w, max(0, math.ceil(lw - location[0] / d) + 1))
    keep_h = min(h, max(0, math.ceil(lh - location[1] / d) + 1))
    if (keep_w, keep_h) != (w, h):
        out = np.full((h, w, 3), 255, np.uint8)
        if keep_w and keep_h:
            out[:keep_h, :keep_w] = read_region(handle, level, location, (keep_w, keep_h))
        return out
    return composite_on_white(np.asarray(handle.read_region(location, level, size)))


def composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """Flatten (un-premultiplied) RGBA onto a white background."""
    alpha = rgba[..., 3]
    if alpha.min() == 255:
        return np.ascontiguousarray(rgba[..., :3])
    a = alpha.astype(np.uint16)[..., None]
    rgb = (rgba[..., :3].astype(np.uint16) * a + 255 * (255 - a) + 127) // 255
    return rgb.astype(np.uint8)


def best_level(downsamples: Sequence[float], level0_per_px: float) -> int:
    """The coarsest level whose downsample does not exceed `level0_per_px` (within 1 %)."""
    best = 0
    for level, ds in enumerate(downsamples):
        if ds <= level0_per_px * (1 + LEVEL_TOLERANCE) and ds > downsamples[best]:
            best = level
    return best


def read_scaled(
    handle: Slide,
    origin: tuple[float, float],
    level0_per_px: float,
    size: tuple[int, int],
    *,
    level: int | None = None,
    resample: Image.Resampling = Image.Resampling.BILINEAR,
    decode_scaled: bool = False,
) -> np.ndarray:
    """Read `size` (w, h) output pixels, each `level0_per_px` level-0 pixels wide.

    `origin` is the level-0 position of the output's top-left corner (floats allowed). The
    level defaults to `best_level`. Output pixel (i, j) covers level-0
    [origin + j * level0_per_px, origin + (j + 1) * level0_per_px).

    `decode_scaled`: where the slide's levels are JPEG tiles (`Slide.jpeg_tiles`), read them
    directly and let the decoder scale them by 1/2, 1/4 or 1/8 towards the output's pixel size
    (much less work, slightly different pixels: `tessera.slides.jpegtiles`).
    """
    if level0_per_px <= 0:
        raise ValueError("level0_per_px must be positive")
    w, h = size
    downsamples = handle.level_downsamples
    if decode_scaled and level is None and (tiles := handle.jpeg_tiles) is not None:
        source = decoded_level(downsamples, tiles.level_numbers, level0_per_px)
        if source is not None:
            return _read_decoded(tiles, *source, downsamples, origin, level0_per_px, size, resample)
    if level is None:
        level = best_level(downsamples, level0_per_px)
    d = float(downsamples[level])
    ox, oy = origin
    ratio = level0_per_px / d  # level pixels per output pixel
    if abs(ratio - 1) < 1e-9 and d == 1.0 and float(ox).is_integer() and float(oy).is_integer():
        return read_region(handle, 0, (int(ox), int(oy)), (w, h))
    # One level pixel of margin on each side feeds the resampling filter at the edges.
    (x0, start_x, pad_x), (y0, start_y, pad_y) = _read_start(ox, d), _read_start(oy, d)
    read_w = math.ceil((ox + w * level0_per_px) / d - start_x) + 1
    read_h = math.ceil((oy + h * level0_per_px) / d - start_y) + 1
    pixels = read_region(handle, level, (x0, y0), (read_w - pad_x, read_h - pad_y))
    if pad_x or pad_y:
        pixels = np.pad(pixels, ((pad_y, 0), (pad_x, 0), (0, 0)), constant_values=255)
    bx, by = ox / d - start_x, oy / d - start_y
    box = (bx, by, bx + w * ratio, by + h * ratio)
    image = Image.fromarray(pixels).resize((w, h), resample=resample, box=box)
    return np.asarray(image)


def decoded_level(
    downsamples: Sequence[float], jpeg_levels: Sequence[int], level0_per_px: float
) -> tuple[int, int] | None:
    """(level, decoder scale) of JPEG-tiled levels whose scaled downsample is the coarsest not
    exceeding `level0_per_px` (within 1 %), ties to the coarser stored level; None when that is
    coarser than what `best_level` reads anyway (a stored level that is not JPEG)."""
    limit = level0_per_px * (1 + LEVEL_TOLERANCE)
    found = [
        (downsamples[lv] * s, lv, s) for lv in jpeg_levels for s in SCALES
        if downsamples[lv] * s <= limit
    ]  # fmt: skip
    if not found:
        return None
    d, level, scale = max(found)
    if d < downsamples[best_level(downsamples, level0_per_px)] * (1 - LEVEL_TOLERANCE):
        return None
    return level, scale


def _read_decoded(
    tiles: JpegTiles,
    level: int,
    scale: int,
    downsamples: Sequence[float],
    origin: tuple[float, float],
    level0_per_px: float,
    size: tuple[int, int],
    resample: Image.Resampling,
) -> np.ndarray:
    """`read_scaled` from a level decoded at 1/`scale`: a crop where its pixels are the
    output's, else resampled from it like a stored level."""
    w, h = size
    d = float(downsamples[level]) * scale  # level-0 pixels per decoded pixel
    ox, oy = origin[0] / d, origin[1] / d  # in decoded pixels
    ratio = level0_per_px / d
    if abs(ratio - 1) < 1e-9 and abs(ox - round(ox)) < 1e-6 and abs(oy - round(oy)) < 1e-6:
        return tiles.read(level, scale, (round(ox), round(oy)), (w, h))
    # one decoded pixel of margin on each side feeds the resampling filter at the edges
    x0, y0 = math.floor(ox) - 1, math.floor(oy) - 1
    read_w = math.ceil(ox + w * ratio - x0) + 1
    read_h = math.ceil(oy + h * ratio - y0) + 1
    pixels = tiles.read(level, scale, (x0, y0), (read_w, read_h))
    box = (ox - x0, oy - y0, ox - x0 + w * ratio, oy - y0 + h * ratio)
    return np.asarray(Image.fromarray(pixels).resize((w, h), resample=resample, box=box))


def _read_start(origin: float, d: float) -> tuple[int, float, int]:
    """Level-0 read position, the level coordinate OpenSlide starts at, and white padding.

    OpenSlide resamples a fractional start (level-0 position / downsample) when the position
    is positive, but truncates it towards zero when negative; reads therefore never start left
    of 0: the part before the slide is white padding, added here.
    """
    k = math.floor(origin / d) - 1
    if k < 0:
        return 0, float(k), -k
    x0 = round(k * d)
    return x0, x0 / d, 0


def read_box(handle: Slide, grid: TileGrid, box: Box, *, decode_scaled: bool = False) -> np.ndarray:
    """Read a box of the grid's pixel space (e.g. a tile's `read` box) at the grid's scale
    (`decode_scaled`: see `read_scaled`)."""
    return read_scaled(
        handle,
        (box.x * grid.level0_per_px, box.y * grid.level0_per_px),
        grid.level0_per_px,
        (box.width, box.height),
        decode_scaled=decode_scaled,
    )


def read_overview(handle: Slide, level0_per_px: float, *, band_rows: int = 256) -> np.ndarray:
    """The whole slide at a coarse scale (for tissue detection and slide statistics).

    Read in bands of `band_rows` output rows: the pyramid level read from can be several times
    the overview's size (and OpenSlide hands it over as RGBA), so one read would make the
    reader's memory grow with the slide; bands keep it to the overview's own size.
    """
    width, height = handle.dimensions
    w, h = max(1, math.ceil(width / level0_per_px)), max(1, math.ceil(height / level0_per_px))
    out = np.empty((h, w, 3), np.uint8)
    for y in range(0, h, band_rows):
        rows = min(band_rows, h - y)
        out[y : y + rows] = read_scaled(handle, (0.0, y * level0_per_px), level0_per_px, (w, rows))
    return out


class SlideHandles:
    """One open `Slide` per (thread, slide), opened on first use and kept open.

    Worker threads read in parallel without sharing a handle's internal cache and lock;
    `max_per_thread` bounds open files when a worker sees many slides (least recent closed).
    """

    def __init__(self, max_per_thread: int = 4) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: dict[int, Slide] = {}
        self._max = max_per_thread

    def get(self, path: str | os.PathLike[str], slide: str | None = None) -> Slide:
        """This thread's handle on `path` (`slide` names it in errors)."""
        cache: OrderedDict[Path, Slide] | None = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = OrderedDict()
        key = Path(path)
        handle = cache.get(key)
        if handle is not None:
            cache.move_to_end(key)
            return handle
        handle = open_slide(key, slide)
        cache[key] = handle
        with self._lock:
            self._open[id(handle)] = handle
        while len(cache) > self._max:
            _, old = cache.popitem(last=False)
            self._forget(old)
        return handle

    def open_count(self) -> int:
        """Handles open across all threads."""
        with self._lock:
            return len(self._open)

    def close(self) -> None:
        """Close every handle of every thread; call once the readers have stopped."""
        with self._lock:
            handles, self._open = list(self._open.values()), {}
        for handle in handles:
            handle.close()
        self._local = threading.local()

    def _forget(self, handle: Slide) -> None:
        with self._lock:
            self._open.pop(id(handle), None)
        handle.close()
