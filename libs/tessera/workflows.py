"""Workflow specifications and their validation: the shape users submit, checked without I/O.

A workflow is a DAG of jobs. Each job runs in a branch lane `(workflow, branch)`; lanes are FIFO in
submission order, `depends_on` links jobs across lanes. Everything here is pure: the gateway adds
the checks that need the filesystem (the slide exists under the data root).
"""

from __future__ import annotations

import graphlib
from collections import Counter
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tessera.errors import InvalidWorkflow
from tessera.tiling.grid import TileGrid, plan_grid

JobType = Literal["synthetic", "tissue_mask", "cell_segmentation"]
JOB_TYPES: tuple[str, ...] = get_args(JobType)
MAX_JOBS_PER_WORKFLOW = 500
MAX_RETRIES = 5

Identifier = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]


class JobState(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    SKIPPED = "SKIPPED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_JOB_STATES


TERMINAL_JOB_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.SKIPPED}
)


class WorkflowState(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


TERMINAL_WORKFLOW_STATES = frozenset(
    {WorkflowState.SUCCEEDED, WorkflowState.FAILED, WorkflowState.CANCELLED}
)


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SyntheticParams(_Params):
    """A model-free job that runs through the tile pipeline: for scheduler tests and benchmarks."""

    tiles: int = Field(default=20, ge=1, le=100_000)
    seconds_per_tile: float = Field(default=0.01, ge=0.0, le=60.0)
    failure_probability: float = Field(default=0.0, ge=0.0, le=1.0)
    failing_attempts: int = Field(
        default=0, ge=0, le=10, description="its first N attempts fail (to try retries, re-runs)"
    )


class TissueMaskParams(_Params):
    target_mpp: float = Field(default=8.0, gt=0.0, le=100.0, description="µm/px of the mask")
    tile_size: int = Field(default=512, ge=64, le=4096)
    overlap: int = Field(default=64, ge=0, le=1024)

    def grid(self, width: int, height: int, slide_mpp: float) -> TileGrid:
        """The tiles of a slide of this level-0 size (the tiler's plan, the progress estimate)."""
        return plan_grid(
            width,
            height,
            slide_mpp=slide_mpp,
            target_mpp=self.target_mpp,
            tile_size=self.tile_size,
            halo=(self.overlap + 1) // 2,  # neighbours overlap by 2 x halo
        )


class CellSegmentationParams(_Params):
    model: str = Field(default="auto", min_length=1, max_length=512)
    tile_size: int = Field(default=512, ge=128, le=2048, multiple_of=16)
    halo: int = Field(
        default=64, ge=16, le=512, description="overlap on each side, in model pixels"
    )
    batch_size: int = Field(default=0, ge=0, le=256, description="0 chooses per device")
    mpp: float | None = Field(default=None, gt=0.0, le=100.0, description="override the slide's")
    min_tissue: float = Field(default=0.05, ge=0.0, le=1.0)

    def grid(self, width: int, height: int, slide_mpp: float, model_mpp: float) -> TileGrid:
        """The tiles of a slide of this level-0 size for a model at `model_mpp` µm/px."""
        return plan_grid(
            width,
            height,
            slide_mpp=slide_mpp,
            target_mpp=model_mpp,
            tile_size=self.tile_size,
            halo=self.halo,
        )


PARAMS_BY_TYPE: dict[str, type[_Params]] = {
    "synthetic": SyntheticParams,
    "tissue_mask": TissueMaskParams,
    "cell_segmentation": CellSegmentationParams,
}
NEEDS_SLIDE = frozenset({"tissue_mask", "cell_segmentation"})


class JobSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Identifier
    type: str = Field(min_length=1, max_length=64, examples=["cell_segmentation"])
    branch: Identifier = "main"
    slide: str | None = Field(default=None, max_length=1024, examples=["CMU-1-Small-Region.svs"])
    params: dict[str, Any] = Field(default_factory=dict)
    depends_on: tuple[Identifier, ...] = Field(default=(), max_length=MAX_JOBS_PER_WORKFLOW)
    retries: int = Field(default=0, ge=0, le=MAX_RETRIES)


class WorkflowSpec(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "slide 42",
                    "jobs": [
                        {
                            "id": "mask",
                            "type": "tissue_mask",
                            "branch": "qc",
                            "slide": "CMU-1-Small-Region.svs",
                        },
                        {
                            "id": "cells",
                            "type": "cell_segmentation",
                            "branch": "cells",
                            "slide": "CMU-1-Small-Region.svs",
                            "depends_on": ["mask"],
                            "params": {"model": "auto", "tile_size": 512},
                            "retries": 1,
                        },
                        {
                            "id": "load",
                            "type": "synthetic",
                            "branch": "cells",
                            "params": {"tiles": 200, "seconds_per_tile": 0.05},
                        },
                    ],
                }
            ]
        },
    )

    name: str = Field(default="", max_length=200)
    jobs: tuple[JobSpec, ...] = Field(min_length=1, max_length=MAX_JOBS_PER_WORKFLOW)

    def job(self, job_id: str) -> JobSpec:
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise KeyError(job_id)

    def lanes(self) -> dict[str, list[str]]:
        """Branch name -> job ids in submission (FIFO) order."""
        lanes: dict[str, list[str]] = {}
        for job in self.jobs:
            lanes.setdefault(job.branch, []).append(job.id)
        return lanes


def validate_workflow(spec: WorkflowSpec) -> WorkflowSpec:
    """Check the DAG and each job's parameters; return the spec with parameters normalised.

    Raises `InvalidWorkflow` naming every problem found (not only the first).
    """
    problems: list[str] = []
    counts = Counter(job.id for job in spec.jobs)
    problems += [f"duplicate job id {job_id!r}" for job_id, n in counts.items() if n > 1]
    ids = set(counts)
    normalised: list[JobSpec] = []
    for job in spec.jobs:
        problems += [
            f"job {job.id!r} depends on unknown job {dep!r}"
            for dep in job.depends_on
            if dep not in ids
        ]
        if job.id in job.depends_on:
            problems.append(f"job {job.id!r} depends on itself")
        params_model = PARAMS_BY_TYPE.get(job.type)
        if params_model is None:
            problems.append(
                f"job {job.id!r} has unknown type {job.type!r} (known: {', '.join(JOB_TYPES)})"
            )
            continue
        if job.type in NEEDS_SLIDE and not job.slide:
            problems.append(f"job {job.id!r} of type {job.type!r} needs a slide")
        try:
            params = params_model.model_validate(job.params).model_dump(mode="json")
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "params"
                problems.append(f"job {job.id!r} params.{where}: {err['msg']}")
            continue
        slide = None if job.slide is None else canonical_slide(job.slide)
        normalised.append(job.model_copy(update={"params": params, "slide": slide}))
    if not problems:
        cycle = find_cycle(spec)
        if cycle:
            problems.append("dependency cycle: " + " -> ".join(cycle))
    if problems:
        raise InvalidWorkflow(problems)
    return spec.model_copy(update={"jobs": tuple(normalised)})


def canonical_slide(reference: str) -> str:
    """One spelling per file: `./a//b.svs` is `a/b.svs` (what the log, the read model and the
    delete-while-in-use check compare). Unsafe references are left for the slide checks to refuse.
    """
    if not reference.strip() or "\x00" in reference:
        return reference
    return str(PurePosixPath(reference))


def find_cycle(spec: WorkflowSpec) -> list[str] | None:
    """A dependency cycle as a list of job ids (first == last), or None if the graph is a DAG."""
    graph = {job.id: set(job.depends_on) for job in spec.jobs}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        cycle: list[str] = list(exc.args[1])
        return cycle
    return None


WorkflowSpecAdapter: TypeAdapter[WorkflowSpec] = TypeAdapter(WorkflowSpec)
