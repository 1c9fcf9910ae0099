"""Deep Zoom views of slides for a viewer: tiles and thumbnails as JPEG bytes.

Opening a slide and building its generator costs milliseconds to seconds (OpenSlide indexes the
file), a tile a few milliseconds: the most recently viewed slides stay open in a small LRU, keyed
by (path, mtime, size) so that a replaced file is reopened. OpenSlide handles may be read from
several threads at once. An evicted handle is not closed here: OpenSlide's finaliser closes it
once the last request still reading from it lets go, never under a reader.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import openslide
from openslide.deepzoom import DeepZoomGenerator
from PIL import Image

from tessera.errors import SlideError
from tessera.gateway.slides import SlideEntry
from tessera.slides.access import open_slide
from tessera.slides.deepzoom import OVERLAP, TILE_SIZE, DeepZoomGeometry

TILE_QUALITY = 80
THUMBNAIL_QUALITY = 85


@dataclass(frozen=True)
class DeepZoomSlide:
    """One open slide with its Deep Zoom generator (tile_size 254, overlap 1, full bounds)."""

    slide: str
    handle: openslide.OpenSlide
    generator: DeepZoomGenerator
    geometry: DeepZoomGeometry

    def tile_jpeg(self, level: int, col: int, row: int) -> bytes:
        """Tile (col, row) of Deep Zoom `level`; NotFound outside the pyramid."""
        self.geometry.tile_box(level, col, row)  # the range check, with a message to act on
        try:
            tile = self.generator.get_tile(level, (col, row))
        except openslide.OpenSlideError as exc:
            raise SlideError(self.slide, f"read failed ({exc})") from None
        return _jpeg(tile, TILE_QUALITY)

    def thumbnail_jpeg(self, max_size: int) -> bytes:
        """The whole slide, its longer side at most `max_size` pixels."""
        try:
            thumbnail = self.handle.get_thumbnail((max_size, max_size))
        except openslide.OpenSlideError as exc:
            raise SlideError(self.slide, f"read failed ({exc})") from None
        return _jpeg(thumbnail, THUMBNAIL_QUALITY)


class DeepZoomSlides:
    """An LRU of open slides (see the module docstring); thread-safe."""

    def __init__(self, max_open: int = 16) -> None:
        self._max = max_open
        self._lock = threading.Lock()
        self._open: OrderedDict[tuple[Path, int, int], DeepZoomSlide] = OrderedDict()

    def open(self, entry: SlideEntry) -> DeepZoomSlide:
        """The open slide of a catalogue entry (opened now unless it is in the LRU)."""
        key = (entry.path, entry.mtime_ns, entry.size_bytes)
        with self._lock:
            view = self._open.get(key)
            if view is not None:
                self._open.move_to_end(key)
                return view
        handle = open_slide(entry.path, entry.info.slide)
        generator = DeepZoomGenerator(
            handle, tile_size=TILE_SIZE, overlap=OVERLAP, limit_bounds=False
        )
        width, height = handle.dimensions
        view = DeepZoomSlide(entry.info.slide, handle, generator, DeepZoomGeometry(width, height))
        with self._lock:
            self._open[key] = view
            while len(self._open) > self._max:
                self._open.popitem(last=False)
        return view

    def forget(self, path: Path) -> None:
        """Drop every open version of the file at `path` (deleted): no new request gets it;
        one still using it finishes, and the handle closes with the last reference."""
        with self._lock:
            for key in [k for k in self._open if k[0] == path]:
                del self._open[key]


def _jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()
