"""Planning a job attempt: open the slide, lay the grid, find tissue, compute per-slide stats.

Blocking (slide reads, numpy); the handler runs these in a worker thread. Everything a
tile needs to agree with its neighbours is computed here once per slide: the normalisation
statistics of a cell job (from a sample of tissue tiles read at the model's pixel size) and the
saturation threshold of a tissue-mask job (Otsu on the slide's overview).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tessera.segmentation.normalisation import normalisation_stats
from tessera.slides.access import open_slide, require_mpp, resolve_slide, slide_info
from tessera.slides.formats import Slide
from tessera.slides.reader import best_level, read_box, read_overview
from tessera.stitching.mask_writer import read_mask
from tessera.tiler.adapters.models import ModelInfo
from tessera.tiler.domain import spread
from tessera.tiling.grid import Box, TileGrid, batch_tiles
from tessera.tiling.tissue import (
    overview_scale,
    saturation_threshold,
    select_tiles,
    tile_tissue_fractions,
    tissue_fraction,
    tissue_mask,
)
from tessera.tiling.work import (
    CellWork,
    JobRef,
    PlanDetails,
    SyntheticWork,
    TileBatch,
    TissueWork,
    Work,
)
from tessera.workflows import (
    CellSegmentationParams,
    JobSpec,
    SyntheticParams,
    TissueMaskParams,
)

STATS_PATCH = 256  # side of the centre patch read from each sampled tile


@dataclass(frozen=True)
class Plan:
    """An attempt's plan: what JobPlanned says and the batches to publish."""

    details: PlanDetails
    tiles_total: int
    tissue_fraction: float | None
    batches: list[TileBatch]


@dataclass(frozen=True)
class MaskSource:
    """A finished tissue-mask job whose mask a cell job reuses: its attempt and folder."""

    ref: JobRef
    results_root: Path

    @property
    def folder(self) -> Path:
        return self.ref.results_dir(self.results_root)


@dataclass(frozen=True)
class Target:
    """Where the plan's messages and outputs go."""

    ref: JobRef
    results_subject: str
    batch_tiles: int


def plan_synthetic(target: Target, params: SyntheticParams) -> Plan:
    work = SyntheticWork(
        seconds_per_tile=params.seconds_per_tile,
        failure_probability=params.failure_probability,
        failing_attempts=params.failing_attempts,
    )
    batches = _batches(target, range(params.tiles), work)
    details = _details(target, "synthetic", batches)
    return Plan(details, params.tiles, None, batches)


def plan_tissue_mask(
    target: Target, data_root: str | os.PathLike[str], slide: str, params: TissueMaskParams
) -> Plan:
    started = time.perf_counter()
    with open_slide(resolve_slide(data_root, slide), slide) as handle:
        info = slide_info(handle, slide)
        mpp = require_mpp(info)
        grid = params.grid(info.width, info.height, mpp)
        scale = overview_scale(info.width, info.height, mpp)
        overview = read_overview(handle, scale)
        threshold = saturation_threshold(overview)
        fraction = tissue_fraction(tissue_mask(overview, threshold))
        level = best_level(info.level_downsamples, grid.level0_per_px)
    # Every tile runs: the job *is* the tissue detection; only the threshold is shared.
    batches = _batches(target, range(grid.n_tiles), TissueWork(threshold=threshold), slide, grid)
    details = _details(
        target,
        "tissue_mask",
        batches,
        grid=grid,
        level=level,
        slide_mpp=mpp,
        tissue_area_um2=fraction * info.width * info.height * mpp * mpp,
        timings={"plan_s": time.perf_counter() - started},
    )
    return Plan(details, grid.n_tiles, fraction, batches)


def plan_cells(
    target: Target,
    data_root: str | os.PathLike[str],
    slide: str,
    params: CellSegmentationParams,
    model: ModelInfo,
    *,
    mask_from: MaskSource | None = None,
    stats_tiles: int = 8,
) -> Plan:
    started = time.perf_counter()
    with open_slide(resolve_slide(data_root, slide), slide) as handle:
        info = slide_info(handle, slide)
        mpp = require_mpp(info, params.mpp)
        grid = params.grid(info.width, info.height, mpp, model.pixel_size)
        level = best_level(info.level_downsamples, grid.level0_per_px)
        mask, mask_scale, mask_source = _tissue(handle, info.width, info.height, mpp, mask_from)
        fraction = tissue_fraction(mask)
        tissue_s = time.perf_counter() - started
        selected = select_tiles(tile_tissue_fractions(grid, mask, mask_scale), params.min_tissue)
        sample = [_stats_patch(handle, grid, i) for i in spread(selected, stats_tiles)]
    batches: list[TileBatch] = []
    if sample:  # no tissue tile at all: nothing to segment, the plan is empty
        stats = normalisation_stats(np.concatenate([p.reshape(-1, 3) for p in sample]))
        work = CellWork(
            model=model.setting,
            model_sha256=model.sha256,
            stats_low=stats.low,
            stats_high=stats.high,
            batch_size=params.batch_size,
        )
        batches = _batches(target, selected, work, slide, grid)
    details = _details(
        target,
        "cell_segmentation",
        batches,
        grid=grid,
        level=level,
        slide_mpp=mpp,
        model=model,
        tissue_area_um2=fraction * info.width * info.height * mpp * mpp,
        mask_source=mask_source,
        timings={
            "plan_tissue_s": tissue_s,
            "plan_s": time.perf_counter() - started,
        },
    )
    return Plan(details, len(selected), fraction, batches)


# --- helpers -------------------------------------------------------------------------------


def _tissue(
    handle: Slide, width: int, height: int, mpp: float, source: MaskSource | None
) -> tuple[np.ndarray, float, str | None]:
    """The tissue mask to select tiles with: a finished mask job's if given, else Otsu.

    The third value names the mask job's output relative to the results root: it goes into the
    plan and the job's summary, which clients read, so never a path of the server's disk."""
    if source is not None and (source.folder / "mask.zarr").exists():
        mask, scale = read_mask(source.folder / "mask.zarr")
        return mask, scale, source.ref.results_path
    scale = overview_scale(width, height, mpp)
    return tissue_mask(read_overview(handle, scale)), scale, None


def _stats_patch(handle: Slide, grid: TileGrid, index: int) -> np.ndarray:
    core = grid.tile(index).core
    side = min(STATS_PATCH, core.width, core.height)
    box = Box(
        x=core.x + (core.width - side) // 2,
        y=core.y + (core.height - side) // 2,
        width=side,
        height=side,
    )
    return read_box(handle, grid, box)


def _batches(
    target: Target,
    tiles: range | list[int],
    work: Work,
    slide: str | None = None,
    grid: TileGrid | None = None,
) -> list[TileBatch]:
    return [
        TileBatch(
            ref=target.ref,
            batch=n,
            tiles=chunk,
            slide=slide,
            grid=grid,
            results_subject=target.results_subject,
            work=work,
        )
        for n, chunk in enumerate(batch_tiles(tiles, target.batch_tiles))
    ]


def _details(
    target: Target,
    kind: str,
    batches: list[TileBatch],
    *,
    grid: TileGrid | None = None,
    level: int | None = None,
    slide_mpp: float | None = None,
    model: ModelInfo | None = None,
    tissue_area_um2: float | None = None,
    mask_source: str | None = None,
    timings: dict[str, float] | None = None,
) -> PlanDetails:
    return PlanDetails.model_validate(
        {
            "kind": kind,
            "results": target.ref.results_path,
            "results_subject": target.results_subject,
            "grid": grid,
            "rows": grid.rows if grid else None,
            "cols": grid.cols if grid else None,
            "level": level,
            "slide_mpp": slide_mpp,
            "batches": len(batches),
            "batch_tiles": target.batch_tiles,
            "model": model.name if model else None,
            "model_sha256": model.sha256 if model else None,
            "model_pixel_size": model.pixel_size if model else None,
            "tissue_area_um2": tissue_area_um2,
            "mask_source": mask_source,
            "timings": {k: round(v, 4) for k, v in (timings or {}).items()},
        }
    )


def plan_job(
    target: Target,
    spec: JobSpec,
    data_root: str | os.PathLike[str],
    model: ModelInfo | None,
    *,
    mask_from: MaskSource | None = None,
    stats_tiles: int = 8,
) -> Plan:
    """Plan an attempt of `spec` (raises SlideError, ValueError/ValidationError on bad input)."""
    if spec.type == "synthetic":
        return plan_synthetic(target, SyntheticParams.model_validate(spec.params))
    if not spec.slide:
        raise ValueError(f"a {spec.type} job needs a slide")
    if spec.type == "tissue_mask":
        return plan_tissue_mask(
            target, data_root, spec.slide, TissueMaskParams.model_validate(spec.params)
        )
    if spec.type == "cell_segmentation":
        if model is None:
            raise ValueError("a cell_segmentation job needs a model")
        return plan_cells(
            target,
            data_root,
            spec.slide,
            CellSegmentationParams.model_validate(spec.params),
            model,
            mask_from=mask_from,
            stats_tiles=stats_tiles,
        )
    raise ValueError(f"unknown job type {spec.type!r}")
