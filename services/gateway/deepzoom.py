"""Deep Zoom views of slides for a viewer: tiles and thumbnails as JPEG bytes.

Every slide format is served alike: the generator reads through `tessera.slides.formats.Slide`,
whichever backend opened the file. Opening a slide and building its generator costs milliseconds
to seconds (the backend indexes the file), a tile a few milliseconds: the most recently viewed
slides stay open in a small LRU, keyed by (path, mtime, size) so that a replaced file is
reopened. Open slides may be read from several threads at once. An evicted handle is not closed
here: the backend's finaliser closes it once the last request still reading from it lets go,
never under a reader.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from openslide.deepzoom import DeepZoomGenerator
from PIL import Image

from tessera.errors import NotFound
from tessera.gateway.slides import SlideEntry
from tessera.slides.deepzoom import OVERLAP, TILE_SIZE, DeepZoomGeometry
from tessera.slides.formats import Slide, open_slide

TILE_QUALITY = 80
THUMBNAIL_QUALITY = 85


@dataclass(frozen=True)
class DeepZoomSlide:
    """One open slide with its Deep Zoom generator (tile_size 254, overlap 1, full bounds)."""

    slide: str
    handle: Slide
    generator: DeepZoomGenerator
    geometry: DeepZoomGeometry

    def tile_jpeg(self, level: int, col: int, row: int) -> bytes:
        """Tile (col, row) of Deep Zoom `level`; NotFound outside the pyramid."""
        self.geometry.tile_box(level, col, row)  # the range check, with a message to act on
        return _jpeg(self.generator.get_tile(level, (col, row)), TILE_QUALITY)

    def thumbnail_jpeg(self, max_size: int) -> bytes:
        """The whole slide, its longer side at most `max_size` pixels."""
        return _jpeg(self.handle.get_thumbnail((max_size, max_size)), THUMBNAIL_QUALITY)

    def associated_jpeg(self, name: str) -> bytes:
        """One of the file's associated images (label, macro, ...); NotFound without it."""
        if name not in self.handle.associated_images:
            held = ", ".join(self.handle.associated_images) or "none"
            raise NotFound(
                "associated image", name, f"slide {self.slide!r} has no {name!r} image ({held})"
            )
        return _jpeg(self.handle.associated_images[name], THUMBNAIL_QUALITY)


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
