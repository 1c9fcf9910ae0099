"""Cell indexes of finished cell-segmentation jobs, built once per job and kept in an LRU.

A SUCCEEDED job's `cells.parquet` never changes (see `tessera.gateway.results`), so its index
(`tessera.stitching.cell_index`) is kept by folder with no check for changes. Building one reads
the whole table (about a second per million cells), so it runs in a worker thread, and requests
that arrive meanwhile for the same job wait for that one build rather than starting their own.
The LRU is bounded by the cells it holds in all, not by the number of jobs: the most recently
used index always stays, however large. A million cells of 9-point outlines hold about 180 MB
(bench/cells.py).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from pathlib import Path

from tessera.errors import NotFound
from tessera.stitching.cell_index import CellIndex

CELLS_FILE = "cells.parquet"


class CellIndexes:
    """Indexes of finished jobs' cells, the most recently used kept up to `max_cells` in all."""

    def __init__(self, max_cells: int = 2_000_000) -> None:
        self._max = max_cells
        self._known: OrderedDict[Path, CellIndex] = OrderedDict()
        self._building: dict[Path, asyncio.Task[CellIndex]] = {}

    async def get(self, folder: Path, job_type: str) -> CellIndex:
        """The index of a finished job's cells; NotFound when its outputs have no cell table."""
        index = self._known.get(folder)
        if index is not None:
            self._known.move_to_end(folder)
            return index
        task = self._building.get(folder)
        if task is None:
            task = asyncio.create_task(asyncio.to_thread(_build, folder, job_type))
            self._building[folder] = task
            task.add_done_callback(lambda _: self._building.pop(folder, None))
        index = await asyncio.shield(task)  # a cancelled request leaves the build to the others
        self._keep(folder, index)
        return index

    def _keep(self, folder: Path, index: CellIndex) -> None:
        self._known[folder] = index
        self._known.move_to_end(folder)
        held = sum(len(i) for i in self._known.values())
        while held > self._max and len(self._known) > 1:
            _, dropped = self._known.popitem(last=False)
            held -= len(dropped)


def _build(folder: Path, job_type: str) -> CellIndex:
    path = folder / CELLS_FILE
    if not path.is_file():
        raise NotFound("cells", folder.name, f"a {job_type} job has no cells")
    return CellIndex.from_parquet(path)
