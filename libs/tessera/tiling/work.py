"""The data plane's wire contract: job attempts, tile batches, plans and result subjects.

The tiler, the inference workers and the merger agree on four things, all defined here:

- `JobRef`, one attempt of one job. Everything an attempt produces is keyed by it, so results
  of an older attempt can never be mistaken for the current one's.
- Subjects, one per attempt, named by a short hash of the ref (`JobRef.key`):

      <ns>.tiles.<key>                      tile batches (`TileBatch` JSON, coordinates only)
      <ns>.results.<partition>.<key>        tile results (`tessera.stitching.encoding` bytes)

  Per-attempt subjects let the tiler count an attempt's batches still in TILES (stream info per
  subject: a WorkQueue stream deletes a message when it is acked) and let several mergers own
  disjoint partitions of RESULTS.
- `TileBatch`, the TILES message: the grid (a handful of numbers), the tile indices, and what
  every tile of the attempt must agree on (normalisation statistics, tissue threshold, model).
- `PlanDetails`, carried in `JobPlanned.grid`: what the merger needs to own the attempt's output
  (kind, grid, results folder, model), and what the UI shows about the plan.

An attempt's outputs live in `<results root>/<tenant>/<workflow>/<job>/attempt-<n>`: a retry
starts in a fresh folder.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from tessera.events import JobAttemptFailed, decision_id
from tessera.tiling.grid import TileGrid

JobKind = Literal["synthetic", "tissue_mask", "cell_segmentation"]

# RESULTS message headers (the payload itself is an encoded tile result).
TIMINGS_HEADER = "Tessera-Timings"  # JSON {stage: seconds} spent on this tile by inference
MARKER_HEADER = "Tessera-Marker"  # a message without a tile: "empty-plan" (nothing to tile)
EMPTY_PLAN = "empty-plan"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JobRef(_Frozen):
    """One attempt of one job."""

    tenant_id: UUID
    workflow_id: UUID
    job_id: str
    attempt: int = Field(ge=1)

    @property
    def key(self) -> str:
        """A subject-safe token naming this attempt (job ids may contain dots)."""
        raw = f"{self.tenant_id}/{self.workflow_id}/{self.job_id}/{self.attempt}"
        return hashlib.sha256(raw.encode()).hexdigest()[:24]

    def partition(self, partitions: int) -> int:
        """The RESULTS partition (merger replica) that owns this attempt's output."""
        return partition_of(self.key, partitions)

    @property
    def results_path(self) -> str:
        """The attempt's output folder relative to the results root."""
        return f"{self.tenant_id}/{self.workflow_id}/{self.job_id}/attempt-{self.attempt}"

    def results_dir(self, results_root: str | os.PathLike[str]) -> Path:
        return Path(results_root) / self.results_path

    def attempt_failed(self, reason: str, *, retryable: bool = True) -> JobAttemptFailed:
        """The failure report of this attempt; its id is fixed, so many reporters append one."""
        return JobAttemptFailed(
            event_id=decision_id("JobAttemptFailed", self.workflow_id, self.job_id, self.attempt),
            tenant_id=self.tenant_id,
            workflow_id=self.workflow_id,
            job_id=self.job_id,
            attempt=self.attempt,
            reason=reason,
            retryable=retryable,
        )

    @classmethod
    def of(cls, event: Any) -> JobRef:
        """The ref of a job event carrying `tenant_id`, `workflow_id`, `job_id`, `attempt`."""
        return cls(
            tenant_id=event.tenant_id,
            workflow_id=event.workflow_id,
            job_id=event.job_id,
            attempt=event.attempt,
        )


def partition_of(key: str, partitions: int) -> int:
    """The RESULTS partition of the attempt with this key (`JobRef.key`)."""
    return int(key[:8], 16) % max(1, partitions)


def misrouted(subjects: Iterable[str], partitions: int) -> list[str]:
    """The RESULTS subjects whose partition is not their attempt's among `partitions`: a tiler
    that counts another number of partitions published them, and they may reach no merger."""
    wrong = []
    for subject in subjects:
        *_, partition, key = subject.split(".")
        if int(partition) != partition_of(key, partitions):
            wrong.append(subject)
    return wrong


def tiles_subject(ns: str, ref: JobRef) -> str:
    return f"{ns}.tiles.{ref.key}"


def results_subject(ns: str, ref: JobRef, partitions: int = 1) -> str:
    return f"{ns}.results.{ref.partition(partitions)}.{ref.key}"


def results_filter(ns: str, partition: int) -> str:
    """The filter of the merger that owns `partition`."""
    return f"{ns}.results.{partition}.>"


def subject_key(subject: str) -> str:
    """The attempt key: the last token of a tiles or results subject."""
    return subject.rsplit(".", 1)[-1]


# --- what every tile of an attempt shares ----------------------------------------------------


class SyntheticWork(_Frozen):
    kind: Literal["synthetic"] = "synthetic"
    seconds_per_tile: float = Field(ge=0.0)
    failure_probability: float = Field(ge=0.0, le=1.0)
    failing_attempts: int = Field(default=0, ge=0)


class TissueWork(_Frozen):
    kind: Literal["tissue_mask"] = "tissue_mask"
    threshold: float = Field(ge=0.0, le=1.0, description="saturation threshold of the slide")


class CellWork(_Frozen):
    kind: Literal["cell_segmentation"] = "cell_segmentation"
    model: str = Field(description="the job's model setting, as the user gave it")
    model_sha256: str = Field(description="the file the tiler planned with")
    stats_low: tuple[float, float, float]
    stats_high: tuple[float, float, float]
    batch_size: int = Field(default=0, ge=0, description="forward batch; 0 = the device's")


Work = Annotated[SyntheticWork | TissueWork | CellWork, Field(discriminator="kind")]


class TileBatch(_Frozen):
    """A TILES message: tile indices of one attempt (never pixels)."""

    ref: JobRef
    batch: int = Field(ge=0, description="sequence number of the batch in the plan")
    tiles: tuple[int, ...]
    slide: str | None = None
    grid: TileGrid | None = None
    results_subject: str
    work: Work

    @property
    def msg_id(self) -> str:
        """Names the attempt and the tiles, not the batch number: a tiler restarted with another
        `batch_tiles` numbers other tiles alike, and those must not be dropped as repeats."""
        tiles = hashlib.sha256(",".join(map(str, self.tiles)).encode()).hexdigest()[:16]
        return f"{self.ref.key}:tiles:{tiles}"


def result_msg_id(ref: JobRef, tile: int) -> str:
    return f"{ref.key}:tile:{tile}"


class PlanDetails(_Frozen):
    """What the tiler decided for an attempt; stored in `JobPlanned.grid`."""

    kind: JobKind
    results: str = Field(description="output folder relative to the results root")
    results_subject: str
    grid: TileGrid | None = None
    rows: int | None = None
    cols: int | None = None
    level: int | None = Field(default=None, description="pyramid level tiles are read from")
    slide_mpp: float | None = None
    batches: int = 0
    batch_tiles: int = 0
    model: str | None = None
    model_sha256: str | None = None
    model_pixel_size: float | None = None
    tissue_area_um2: float | None = None
    mask_source: str | None = Field(default=None, description="a reused tissue-mask job's output")
    timings: dict[str, float] = Field(default_factory=dict)

    def event_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
