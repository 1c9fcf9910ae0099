"""A job's output folder, as the merger sees it: apply tile results, flush, finalise.

The merger's handler stays a few lines:

    outputs = CellJobOutputs.create(job_dir, grid, namespace=job_uuid)  # .open() on restart
    for msg in batch:
        outputs.apply(msg.data)                          # bytes from the RESULTS stream
    outputs.flush()                                      # then ack the batch
    if len(outputs.tiles_done()) == tiles_total:
        summary = outputs.finalise(extra={"timings": ...})

Cell-segmentation folder: labels.zarr, cells.parts/ (while running), cells.parquet,
cells.geojson, summary.json. Tissue-mask folder: mask.zarr, mask.png, summary.json.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from tessera.stitching.cells import CELL_SCHEMA, QUPATH_NAMESPACE, CellTableWriter, cell_table
from tessera.stitching.encoding import InstanceResult, ProbabilityResult, decode
from tessera.stitching.files import write_json
from tessera.stitching.mask_writer import TissueMaskWriter
from tessera.stitching.ownership import IdPacking
from tessera.stitching.writer import LabelImageWriter
from tessera.tiling.grid import TileGrid


class CellJobOutputs:
    """Label image + cell table of one cell-segmentation job."""

    def __init__(
        self, directory: Path, labels: LabelImageWriter, namespace: uuid.UUID = QUPATH_NAMESPACE
    ) -> None:
        self.directory = directory
        self.labels = labels
        self.cells = CellTableWriter(directory / "cells.parts", namespace=namespace)

    @classmethod
    def create(
        cls,
        directory: str | os.PathLike[str],
        grid: TileGrid,
        packing: IdPacking | None = None,
        *,
        namespace: uuid.UUID = QUPATH_NAMESPACE,
    ) -> CellJobOutputs:
        """Start a fresh output folder for a job planned on `grid`.

        `namespace` seeds the GeoJSON features' UUIDs: pass the job's (see `CellTableWriter`).
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in (directory / "cells.parts").glob("part-*"):
            stale.unlink()
        labels = LabelImageWriter.create(directory / "labels.zarr", grid, packing)
        return cls(directory, labels, namespace)

    @classmethod
    def open(
        cls, directory: str | os.PathLike[str], *, namespace: uuid.UUID = QUPATH_NAMESPACE
    ) -> CellJobOutputs:
        """Reopen a job's output folder to carry on after a restart."""
        directory = Path(directory)
        return cls(directory, LabelImageWriter.open(directory / "labels.zarr"), namespace)

    @property
    def grid(self) -> TileGrid:
        return self.labels.grid

    def apply(self, result: bytes | InstanceResult) -> int:
        """Apply one tile result (encoded or decoded); returns its number of cells."""
        if isinstance(result, bytes | bytearray | memoryview):
            decoded = decode(bytes(result))
            if not isinstance(decoded, InstanceResult):
                raise TypeError("a cell job received a tissue-probability result")
            result = decoded
        cells = result.cells
        if cells is None:  # a result without rows (older workers, tests): compute them here
            cells = cell_table(result.instances, self.grid, result.tile_index)
        elif not cells.schema.equals(CELL_SCHEMA):
            raise ValueError(f"tile {result.tile_index}: its cell rows do not have the schema")
        self.cells.add(result.tile_index, cells)
        self.labels.apply(result.tile_index, result.instances)
        return len(result.instances)

    def flush(self) -> None:
        """Persist everything applied so far (cells first: the label ledger marks tiles done)."""
        self.cells.flush()
        self.labels.flush()

    def tiles_done(self) -> np.ndarray:
        """Tile indices applied and flushed."""
        return self.labels.tiles_done()

    def finalise(self, *, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Build the label pyramid, cells.parquet, cells.geojson and summary.json."""
        self.flush()
        levels = self.labels.finalise()
        count = self.cells.finalise(
            self.directory / "cells.parquet", self.directory / "cells.geojson"
        )
        summary = {
            "kind": "cell_segmentation",
            "cell_count": count,
            "tiles_done": len(self.tiles_done()),
            "tiles_total": self.grid.n_tiles,
            "label_levels": [list(s) for s in levels],
            "grid": self.grid.model_dump(),
            "outputs": {
                "labels": "labels.zarr",
                "cells_parquet": "cells.parquet",
                "cells_geojson": "cells.geojson",
            },
            **(extra or {}),
        }
        write_json(self.directory / "summary.json", summary)
        return summary


class MaskJobOutputs:
    """Blended tissue mask + preview of one tissue-mask job."""

    def __init__(self, directory: Path, mask: TissueMaskWriter) -> None:
        self.directory = directory
        self.mask = mask

    @classmethod
    def create(cls, directory: str | os.PathLike[str], grid: TileGrid) -> MaskJobOutputs:
        """Start a fresh output folder for a tissue-mask job planned on `grid`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        return cls(directory, TissueMaskWriter.create(directory / "mask.zarr", grid))

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> MaskJobOutputs:
        """Reopen a tissue-mask output folder after a restart."""
        directory = Path(directory)
        return cls(directory, TissueMaskWriter.open(directory / "mask.zarr"))

    def apply(self, result: bytes | ProbabilityResult) -> None:
        """Store one tile's probabilities (encoded or decoded)."""
        if isinstance(result, bytes | bytearray | memoryview):
            decoded = decode(bytes(result))
            if not isinstance(decoded, ProbabilityResult):
                raise TypeError("a tissue-mask job received an instance result")
            result = decoded
        self.mask.apply(result.tile_index, result.probability)

    def flush(self) -> None:
        """Record the tiles stored so far as done (before acking them)."""
        self.mask.flush()

    def tiles_done(self) -> np.ndarray:
        """Tile indices stored and flushed."""
        return self.mask.tiles_done()

    def finalise(self, *, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Blend the mask, write mask.png and summary.json; returns the summary."""
        result = self.mask.finalise(self.directory / "mask.png")
        summary = {
            "kind": "tissue_mask",
            "tissue_fraction": result.tissue_fraction,
            "tissue_area_um2": result.tissue_area_um2,
            "tiles_done": result.tiles,
            "tiles_total": self.mask.grid.n_tiles,
            "mask_shape": list(result.shape),
            "grid": self.mask.grid.model_dump(),
            "outputs": {"mask": "mask.zarr", "preview": "mask.png"},
            **(extra or {}),
        }
        write_json(self.directory / "summary.json", summary)
        return summary
