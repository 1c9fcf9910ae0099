"""Honest progress figures: expected tiles, percent, rate, ETA and throughput, all pure.

A job's *expected* tiles are its plan's `tiles_total` once planned, before that an estimate made
at submission from its parameters and the slide (`estimate_tiles`). A workflow weighs its jobs by
those expected tiles, so percent and "done / total tiles" always agree; a job that ended early
(FAILED, CANCELLED, SKIPPED) keeps its expected tiles in the total and counts its undone rest as
*ended*, never as done: cancelling a pending job does not move the percent, and a cancelled
workflow never reaches 100 %. (The read model keeps `tiles_expected` and `tiles_ended` per job as
generated columns, migration 0007; this module turns the sums into what the API shows.)

Rates come from progress samples, `(at, tiles_done)` of one attempt: tiles/s over a sliding
window, measured over at least `MIN_RATE_SPAN_S` so that two samples a moment apart (the last
progress and the end of a job) do not read as a spike. Time is always an argument.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tessera.workflows import (
    CellSegmentationParams,
    SyntheticParams,
    TissueMaskParams,
    WorkflowSpec,
)

RATE_WINDOW_S = 30.0
MIN_RATE_SPAN_S = 5.0
MAX_SERIES_POINTS = 120
MIN_STEP_S = 1.0
# the model a cell segmentation job will run is only known to the tiler; InstanSeg's models
# (bundled and published) work at 0.5 µm/px, which is what an estimate assumes
MODEL_MPP_ESTIMATE = 0.5


@dataclass(frozen=True, slots=True)
class SlideSize:
    """What an estimate needs to know of a slide: its level-0 size and µm per pixel."""

    width: int
    height: int
    mpp: float | None


def estimate_tiles(job_type: str, params: Mapping[str, Any], slide: SlideSize | None) -> int | None:
    """The tiles a job is expected to plan, before it is planned; None when it cannot be told.

    Synthetic jobs plan exactly their `tiles`. Slide jobs are estimated as the grid a slide with
    no tissue-free area would give: tissue masks plan every tile of it, cell segmentation only
    those with tissue, so its estimate is an upper bound.
    """
    if job_type == "synthetic":
        return SyntheticParams.model_validate(params).tiles
    if slide is None:
        return None
    if job_type == "tissue_mask":
        mask = TissueMaskParams.model_validate(params)
        if slide.mpp is None:
            return None
        return mask.grid(slide.width, slide.height, slide.mpp).n_tiles
    if job_type == "cell_segmentation":
        cells = CellSegmentationParams.model_validate(params)
        mpp = cells.mpp or slide.mpp
        if mpp is None:
            return None
        return cells.grid(slide.width, slide.height, mpp, MODEL_MPP_ESTIMATE).n_tiles
    return None


def estimate_workflow(spec: WorkflowSpec, slides: Mapping[str, SlideSize]) -> dict[str, int]:
    """Each job's estimate (`estimate_tiles`) that can be told, by job id."""
    out: dict[str, int] = {}
    for job in spec.jobs:
        slide = slides.get(job.slide) if job.slide is not None else None
        if (tiles := estimate_tiles(job.type, job.params, slide)) is not None:
            out[job.id] = tiles
    return out


def percent(done: int, expected: int, *, complete: bool = False) -> float:
    """`done` of `expected` in percent, rounded down to one decimal, so that it never reads
    more than the tiles say and reads 100 only when every expected tile is done. With nothing
    expected it is 100 for a `complete` job or workflow (nothing was left to do), else 0."""
    if expected <= 0:
        return 100.0 if complete else 0.0
    return (1000 * min(max(done, 0), expected) // expected) / 10


def remaining(done: int, expected: int, ended: int) -> int:
    """Tiles still to do: neither done nor given up by a job that ended early."""
    return max(0, expected - done - ended)


def eta_s(left: int, rate: float | None) -> float | None:
    """Seconds until `left` tiles are done at `rate` tiles/s (None without a rate)."""
    if rate is None or rate <= 0:
        return None
    return round(left / rate, 1)


@dataclass(frozen=True, slots=True)
class Sample:
    """A job attempt's tiles done at a moment (one JobProgressed)."""

    at: datetime
    done: int


def rate(
    samples: Sequence[Sample],
    now: datetime,
    *,
    window_s: float = RATE_WINDOW_S,
    min_span_s: float = MIN_RATE_SPAN_S,
) -> float | None:
    """Tiles/s of one attempt over the `window_s` before `now`, from its samples in time order.

    The measure starts at the last sample at or before the window's start (else the first one)
    and ends at the last sample by `now`; over less than `min_span_s` it is None (not known yet).
    """
    seen = [s for s in samples if s.at <= now]
    if len(seen) < 2:
        return None
    cut = now - timedelta(seconds=window_s)
    before = [s for s in seen if s.at <= cut]
    start = before[-1] if before else seen[0]
    end = seen[-1]
    span = (end.at - start.at).total_seconds()
    if span < min_span_s:
        return None
    return round(max(0, end.done - start.done) / span, 3)


@dataclass(frozen=True, slots=True)
class Point:
    """Throughput over one step of a series: tiles/s from `at` for `step_s` seconds."""

    at: datetime
    rate: float


def series(
    deltas: Sequence[tuple[datetime, int]],
    start: datetime,
    end: datetime,
    *,
    max_points: int = MAX_SERIES_POINTS,
    min_step_s: float = MIN_STEP_S,
) -> list[Point]:
    """Throughput over [start, end] in at most `max_points` equal steps (each at least
    `min_step_s`): the tiles completed in each step, from `(at, tiles newly done)` pairs, over
    its length. Steps with nothing done are 0, so a stall shows as one."""
    span = (end - start).total_seconds()
    if span <= 0:
        return []
    step = max(min_step_s, span / max_points)
    steps = min(max_points, max(1, math.ceil(span / step)))
    sums = [0] * steps
    for at, delta in deltas:
        offset = (at - start).total_seconds()
        if 0 <= offset <= span:
            sums[min(steps - 1, int(offset / step))] += delta
    return [
        Point(at=start + timedelta(seconds=i * step), rate=round(total / step, 3))
        for i, total in enumerate(sums)
    ]
