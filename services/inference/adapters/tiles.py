"""Reading a batch's tiles from its slide: one slide handle per reader thread.

With `decode_scaled`, JPEG-tiled slides are decoded directly at the scale nearest the model's
pixel size (`tessera.slides.jpegtiles`), several times less CPU than OpenSlide's full-size read.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tessera.slides.access import resolve_slide
from tessera.slides.reader import SlideHandles, read_box
from tessera.tiling.grid import TileGrid
from tessera.tiling.work import TileBatch


class TileReader:
    def __init__(
        self, data_root: str | os.PathLike[str], threads: int = 2, *, decode_scaled: bool = True
    ) -> None:
        self.data_root = data_root
        self.decode_scaled = decode_scaled
        self.handles = SlideHandles()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="tile-reader")
        self._paths: dict[str, Path] = {}

    async def read(self, batch: TileBatch) -> np.ndarray:
        """The batch's read boxes as a `(B, tile, tile, 3)` uint8 array (SlideError on failure)."""
        if batch.slide is None or batch.grid is None:
            raise ValueError("a tile batch without slide or grid has nothing to read")
        path = self._paths.get(batch.slide)
        if path is None:
            path = await asyncio.to_thread(resolve_slide, self.data_root, batch.slide)
            self._paths[batch.slide] = path
        loop = asyncio.get_running_loop()
        reads = [
            loop.run_in_executor(self._pool, self._read_one, path, batch.slide, batch.grid, index)
            for index in batch.tiles
        ]
        return np.stack(await asyncio.gather(*reads))

    def _read_one(self, path: Path, slide: str, grid: TileGrid, index: int) -> np.ndarray:
        handle = self.handles.get(path, slide)
        return read_box(handle, grid, grid.tile(index).read, decode_scaled=self.decode_scaled)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.handles.close()
