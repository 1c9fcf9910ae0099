"""An attempt's output folder, opened or created, as the merger's handler uses it.

`JobOutputs` wraps the stitching library's writers (`CellJobOutputs`, `MaskJobOutputs`) and a
small one for synthetic jobs behind one shape: apply decoded results, skipping tiles the ledger
already holds (a redelivery after a flush, or after a restart), flush, finalise. The per-stage
seconds reported with each tile are summed for the tiles applied and kept in `timings.json`,
written at every flush, so a restarted merger still reports them.

Blocking (Zarr, Parquet); the handler calls these in a worker thread.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import zarr

from tessera.merger.domain import add_timings, with_finalise
from tessera.stitching.chunks import TileLedger
from tessera.stitching.encoding import InstanceResult, ProbabilityResult, decode
from tessera.stitching.files import write_json
from tessera.stitching.outputs import CellJobOutputs, MaskJobOutputs
from tessera.tiling.grid import TileGrid
from tessera.tiling.work import PlanDetails

TIMINGS_FILE = "timings.json"
STORE = {
    "cell_segmentation": "labels.zarr",
    "tissue_mask": "mask.zarr",
    "synthetic": "synthetic.zarr",
}


class Writer(Protocol):
    def apply(self, result: Any) -> Any: ...
    def flush(self) -> None: ...
    def tiles_done(self) -> np.ndarray: ...


class SyntheticJobOutputs:
    """A synthetic job's output: only its tiles-done ledger and, at the end, summary.json."""

    def __init__(self, directory: Path, group: zarr.Group) -> None:
        self.directory = directory
        self.group = group
        self._ledger = TileLedger(group)

    @classmethod
    def create(cls, directory: Path, tiles: int) -> SyntheticJobOutputs:
        directory.mkdir(parents=True, exist_ok=True)
        group = zarr.open_group(str(directory / STORE["synthetic"]), mode="w")
        TileLedger.create(group, max(tiles, 1))
        return cls(directory, group)

    @classmethod
    def open(cls, directory: Path) -> SyntheticJobOutputs:
        return cls(directory, zarr.open_group(str(directory / STORE["synthetic"]), mode="r+"))

    def apply(self, result: InstanceResult) -> None:
        self._ledger.mark(result.tile_index)

    def flush(self) -> None:
        self._ledger.flush()

    def tiles_done(self) -> np.ndarray:
        return self._ledger.tiles_done()

    def finalise(self, *, extra: dict[str, Any]) -> dict[str, Any]:
        self.flush()
        summary = {"kind": "synthetic", "tiles_done": len(self.tiles_done()), **extra}
        write_json(self.directory / "summary.json", summary)
        return summary


class JobOutputs:
    """One attempt's writer plus its in-memory done set and stage timings."""

    def __init__(self, plan: PlanDetails, directory: Path, writer: Writer) -> None:
        self.plan = plan
        self.directory = directory
        self.writer = writer
        self.done: set[int] = {int(i) for i in writer.tiles_done()}
        path = directory / TIMINGS_FILE
        self.timings: dict[str, float] = json.loads(path.read_text()) if path.exists() else {}
        self.applied = 0  # tiles applied by this process (a restart starts at 0)
        self.skipped = 0  # results of tiles already done, not applied again

    @classmethod
    def open_or_create(
        cls,
        plan: PlanDetails,
        results_root: str | os.PathLike[str],
        tiles_total: int,
        namespace: uuid.UUID,
    ) -> JobOutputs:
        """Reopen the attempt's folder if a store exists (after a restart), else create it.

        `namespace` seeds the UUIDs of a cell job's GeoJSON features (one per job)."""
        directory = Path(results_root) / plan.results
        exists = (directory / STORE[plan.kind] / "zarr.json").exists()
        writer: Writer
        if plan.kind == "synthetic":
            if exists:
                writer = SyntheticJobOutputs.open(directory)
            else:
                writer = SyntheticJobOutputs.create(directory, tiles_total)
        else:
            grid = _grid(plan)
            if plan.kind == "tissue_mask":
                writer = (
                    MaskJobOutputs.open(directory)
                    if exists
                    else MaskJobOutputs.create(directory, grid)
                )
            else:
                writer = (
                    CellJobOutputs.open(directory, namespace=namespace)
                    if exists
                    else CellJobOutputs.create(directory, grid, namespace=namespace)
                )
        return cls(plan, directory, writer)

    def apply(self, data: bytes, timings: Mapping[str, float]) -> bool:
        """Apply one encoded tile result unless its tile is done; True when applied.

        Raises `EncodingError` or `TypeError` for a result that does not fit the job.
        """
        result = decode(data)
        expected = ProbabilityResult if self.plan.kind == "tissue_mask" else InstanceResult
        if not isinstance(result, expected):
            raise TypeError(f"a {self.plan.kind} job got a {type(result).__name__}")
        if result.tile_index in self.done:
            self.skipped += 1
            return False
        self.writer.apply(result)
        self.done.add(result.tile_index)
        add_timings(self.timings, timings)
        self.applied += 1
        return True

    def flush(self, merge_s: float = 0.0) -> None:
        """Persist what was applied (before acking it)."""
        self.writer.flush()
        self.timings["merge_s"] = self.timings.get("merge_s", 0.0) + merge_s
        write_json(self.directory / TIMINGS_FILE, self.timings)

    def finalise(self, extra: dict[str, Any]) -> dict[str, Any]:
        """Write the final outputs and summary.json (timings include this step)."""
        started = time.perf_counter()
        writer = self.writer
        if isinstance(writer, CellJobOutputs | MaskJobOutputs | SyntheticJobOutputs):
            summary = writer.finalise(extra=extra)
        else:
            raise TypeError(f"cannot finalise {type(writer).__name__}")
        summary["timings"] = with_finalise(
            summary.get("timings", {}), time.perf_counter() - started
        )
        write_json(self.directory / "summary.json", summary)
        return summary


def _grid(plan: PlanDetails) -> TileGrid:
    if plan.grid is None:
        raise ValueError(f"a {plan.kind} plan has no grid")
    return plan.grid
