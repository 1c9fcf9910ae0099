"""Which tiles of an attempt the merger already stored: its `tessera/tiles_done` ledger.

Every job output keeps the ledger in its Zarr store (`labels.zarr`, `mask.zarr`,
`synthetic.zarr`, see `tessera.stitching`): uint8 per tile index, 1 once applied and flushed.
A tiler that resumes an attempt after a restart publishes only the tiles not in it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

STORES = ("labels.zarr", "mask.zarr", "synthetic.zarr")


def tiles_done(job_dir: Path) -> set[int]:
    """Tile indices recorded as done under `job_dir` (empty when nothing was written yet)."""
    for store in STORES:
        path = job_dir / store
        if (path / "zarr.json").exists():
            try:
                done = zarr.open_array(str(path / "tessera" / "tiles_done"), mode="r")
            except (FileNotFoundError, KeyError, ValueError):
                return set()
            return {int(i) for i in np.flatnonzero(np.asarray(done[:]))}
    return set()
