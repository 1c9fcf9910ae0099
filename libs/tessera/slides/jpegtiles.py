"""Reading the levels of a JPEG-tiled TIFF directly, decoded at 1, 1/2, 1/4 or 1/8 scale.

OpenSlide decodes every JPEG tile of a region at full size, hands the region over as
premultiplied RGBA, and the reader then composites it onto white and resamples it to the
model's pixel size: for a 0.25 µm/px scan read at 0.5 µm/px, four times the pixels the model
gets are decoded, converted and filtered. libjpeg-turbo can instead scale while it decodes (the
inverse DCT of each 8x8 block produced at 4x4, 2x2 or 1x1), several times cheaper than decoding
at full size, and with no resampling after it when the scaled level is the model's size. So a
JPEG-tiled level is also read here as if the pyramid had levels at 1/2, 1/4 and 1/8 of it:
the tiles' bytes are read from the file (`os.pread`: no shared file position, so threads may
read one handle) and decoded by Pillow's libjpeg-turbo with `draft`; decoded tiles are kept in
a small LRU, since neighbouring model tiles overlap by their halo.

A scaled decode averages each block's pixels in the frequency domain, not as a bilinear filter
would: pixels differ slightly from OpenSlide's read resampled (docs/benchmarks.md measures the
effect on cells). At scale 1 the pixels are OpenSlide's (same libjpeg-turbo): `JpegTiles.open`
checks that on one tile and declines the file when they are not (a colour space libjpeg guesses
otherwise than OpenSlide, say), so the caller reads through OpenSlide as before.
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

SCALES = (1, 2, 4, 8)  # what libjpeg's scaled inverse DCT offers
_SOI, _EOI = b"\xff\xd8", b"\xff\xd9"
# An Adobe APP14 segment saying "transform 0": the three components are R, G, B as stored. A
# TIFF says so by its photometric tag, which libjpeg does not see: without the marker it takes
# Aperio's RGB tiles (component ids 0, 1, 2) for YCbCr, as OpenSlide does not.
_ADOBE_RGB = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x00"
# A read of OpenSlide's that the scale-1 decode must match: (level, location in that level's
# pixels, size) -> RGB on white.
Reference = Callable[[int, tuple[int, int], tuple[int, int]], np.ndarray]


@dataclass(frozen=True)
class _Level:
    width: int
    height: int
    tile_w: int
    tile_h: int
    offsets: np.ndarray  # per tile, row-major
    counts: np.ndarray
    tables: bytes  # JPEGTables (quantisation and Huffman tables shared by the tiles), or b""
    rgb: bool  # photometric RGB: the components are not YCbCr

    @property
    def across(self) -> int:
        return -(-self.width // self.tile_w)

    def jpeg(self, fd: int, index: int) -> bytes | None:
        """The tile's complete JPEG stream, or None for a tile the file leaves out."""
        count = int(self.counts[index])
        if count == 0:
            return None
        data = os.pread(fd, count, int(self.offsets[index]))
        if not data.startswith(_SOI):
            return data  # not JPEG after all: the decoder says so
        head = _SOI + _ADOBE_RGB if self.rgb else _SOI
        if self.tables:
            # an abbreviated stream: the tables (less their SOI and EOI) then the tile's rest
            head += self.tables.removeprefix(_SOI).removesuffix(_EOI)
        return head + data[2:]


class JpegTiles:
    """The JPEG-tiled levels of one TIFF, by the slide's level number; see the module docstring.

    `cache_bytes` bounds the decoded tiles kept (a 256² RGB tile at scale 1 is 192 kB).
    """

    def __init__(self, path: Path, levels: dict[int, _Level], cache_bytes: int) -> None:
        self.path = path
        self._levels = levels
        self._fd = os.open(path, os.O_RDONLY)
        self._cache: OrderedDict[tuple[int, int, int], np.ndarray] = OrderedDict()
        self._cached = 0
        self._cache_bytes = cache_bytes
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        level_dimensions: Sequence[tuple[int, int]],
        reference: Reference,
        *,
        cache_bytes: int = 48 << 20,
    ) -> JpegTiles | None:
        """The slide's levels that are JPEG-tiled TIFF pages (matched by size), or None when
        none is, or when a tile decoded here differs from `reference` (OpenSlide's read)."""
        try:
            import tifffile
        except ImportError:  # a slimmed install (the GPU bench's): OpenSlide reads alone
            return None
        path = Path(path)
        try:
            with tifffile.TiffFile(path) as tif:
                pages = [p for p in tif.pages if isinstance(p, tifffile.TiffPage)]
                levels = {}
                for number, (w, h) in enumerate(level_dimensions):
                    page = next((p for p in pages if _is_rgb_jpeg_tiled(p, w, h)), None)
                    if page is not None:
                        levels[number] = _Level(
                            w, h, page.tilewidth, page.tilelength,
                            np.asarray(page.dataoffsets, np.int64),
                            np.asarray(page.databytecounts, np.int64),
                            bytes(page.jpegtables or b""),
                            page.photometric == tifffile.PHOTOMETRIC.RGB,
                        )  # fmt: skip
        except (OSError, ValueError, tifffile.TiffFileError):
            return None
        if not levels:
            return None
        tiles = cls(path, levels, cache_bytes)
        if not tiles._agrees(reference):
            tiles.close()
            return None
        return tiles

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            self._cache.clear()
            self._cached = 0

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            os.close(self._fd)

    def has(self, level: int) -> bool:
        return level in self._levels

    @property
    def level_numbers(self) -> tuple[int, ...]:
        return tuple(self._levels)

    def read(
        self, level: int, scale: int, location: tuple[int, int], size: tuple[int, int]
    ) -> np.ndarray:
        """`size` (w, h) RGB pixels of `level` decoded at 1/`scale`, from `location` in that
        scaled level's pixels; white outside the level (and where the file has no tile)."""
        lv = self._levels[level]
        if scale not in SCALES or lv.tile_w % scale or lv.tile_h % scale:
            raise ValueError(f"scale {scale} does not divide the {lv.tile_w}x{lv.tile_h} tiles")
        (x, y), (w, h) = location, size
        out = np.full((max(h, 0), max(w, 0), 3), 255, np.uint8)
        tw, th = lv.tile_w // scale, lv.tile_h // scale
        # the scaled level ends where its last partly covered pixel does
        x1, y1 = min(x + w, -(-lv.width // scale)), min(y + h, -(-lv.height // scale))
        x0, y0 = max(x, 0), max(y, 0)
        for row in range(y0 // th, (y1 - 1) // th + 1 if y1 > y0 else 0):
            for col in range(x0 // tw, (x1 - 1) // tw + 1 if x1 > x0 else 0):
                pixels = self._tile(level, scale, row * lv.across + col)
                if pixels is None:
                    continue
                tx, ty = col * tw, row * th
                sx0, sy0 = max(x0, tx), max(y0, ty)
                sx1, sy1 = min(x1, tx + tw), min(y1, ty + th)
                out[sy0 - y : sy1 - y, sx0 - x : sx1 - x] = pixels[
                    sy0 - ty : sy1 - ty, sx0 - tx : sx1 - tx
                ]
        return out

    def _tile(self, level: int, scale: int, index: int) -> np.ndarray | None:
        key = (level, scale, index)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
            fd = self._fd
        lv = self._levels[level]
        data = lv.jpeg(fd, index)
        if data is None:
            return None
        image = Image.open(io.BytesIO(data))
        if scale > 1:
            image.draft("RGB", (lv.tile_w // scale, lv.tile_h // scale))
        pixels = np.asarray(image.convert("RGB"))
        with self._lock:
            self._cache[key] = pixels
            self._cached += pixels.nbytes
            while self._cached > self._cache_bytes and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._cached -= old.nbytes
        return pixels

    def _agrees(self, reference: Reference) -> bool:
        """Whether the first tile present decodes (at scale 1) to what OpenSlide reads there."""
        level = min(self._levels)
        lv = self._levels[level]
        present = np.flatnonzero(lv.counts)
        if present.size == 0:
            return True  # nothing to read: white either way
        index = int(present[0])
        row, col = divmod(index, lv.across)
        x, y = col * lv.tile_w, row * lv.tile_h
        w, h = min(lv.tile_w, lv.width - x), min(lv.tile_h, lv.height - y)
        try:
            ours = self.read(level, 1, (x, y), (w, h))
        except (OSError, ValueError, SyntaxError):  # Pillow: SyntaxError for a broken stream
            return False
        theirs = reference(level, (x, y), (w, h))
        # identical with the same libjpeg-turbo; a build's IDCT rounding may move a level or two
        return bool(np.abs(ours.astype(np.int16) - theirs).max() <= 2)


def _is_rgb_jpeg_tiled(page: object, width: int, height: int) -> bool:
    import tifffile

    assert isinstance(page, tifffile.TiffPage)
    return bool(
        page.is_tiled
        and page.compression == tifffile.COMPRESSION.JPEG
        and (page.imagewidth, page.imagelength) == (width, height)
        and page.samplesperpixel == 3
        and page.bitspersample == 8
        and page.imagedepth == 1
        and page.tilewidth % 16 == 0
        and page.tilelength % 16 == 0
    )
