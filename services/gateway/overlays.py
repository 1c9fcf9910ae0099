"""Overlay tiles of finished jobs as PNG bytes, from an LRU of opened job outputs.

A SUCCEEDED job's folder belongs to its last attempt and never changes again, so an opened
output (a few Zarr metadata reads) is kept by folder with no check for changes.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image

from tessera.errors import NotFound
from tessera.slides.deepzoom import DeepZoomGeometry
from tessera.stitching.overlay import JobOverlay


def _png(rgba: np.ndarray) -> bytes:
    out = io.BytesIO()
    # Overlays are mostly transparent runs: fast compression is nearly as small as the best.
    Image.fromarray(rgba, "RGBA").save(out, format="PNG", compress_level=3)
    return out.getvalue()


# What a viewer stretches over a tile with nothing on it: one transparent pixel.
EMPTY_PNG = _png(np.zeros((1, 1, 4), np.uint8))


class JobOverlays:
    """Opened job outputs, the most recently used kept; thread-safe."""

    def __init__(self, max_open: int = 32) -> None:
        self._max = max_open
        self._lock = threading.Lock()
        self._open: OrderedDict[Path, JobOverlay] = OrderedDict()

    def open(self, folder: Path, job_type: str) -> JobOverlay:
        """The overlay of a finished job's folder; NotFound when its outputs have none."""
        with self._lock:
            overlay = self._open.get(folder)
            if overlay is not None:
                self._open.move_to_end(folder)
                return overlay
        overlay = JobOverlay.open(folder)
        if overlay is None:
            raise NotFound("overlay", folder.name, f"a {job_type} job has no overlay")
        with self._lock:
            self._open[folder] = overlay
            while len(self._open) > self._max:
                self._open.popitem(last=False)
        return overlay

    def tile_png(
        self,
        folder: Path,
        job_type: str,
        geometry: DeepZoomGeometry,
        level: int,
        col: int,
        row: int,
    ) -> bytes:
        """Deep Zoom tile (col, row) of `level` of a job's overlay; NotFound outside the pyramid."""
        rgba = self.open(folder, job_type).tile(geometry, level, col, row)
        return EMPTY_PNG if rgba is None else _png(rgba)
