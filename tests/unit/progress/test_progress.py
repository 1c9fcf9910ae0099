"""The progress core: estimates, percent, rate, ETA and the throughput series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tessera.progress import (
    MAX_SERIES_POINTS,
    Sample,
    SlideSize,
    estimate_tiles,
    estimate_workflow,
    eta_s,
    percent,
    rate,
    remaining,
    series,
)
from tessera.tiling.grid import plan_grid
from tessera.workflows import WorkflowSpec

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- estimates ---------------------------------------------------------------------------


def test_a_synthetic_job_is_expected_to_plan_its_tiles() -> None:
    assert estimate_tiles("synthetic", {"tiles": 37}, None) == 37
    assert estimate_tiles("synthetic", {}, None) == 20  # the parameter's default


def test_a_tissue_mask_is_expected_to_plan_the_slides_whole_grid() -> None:
    slide = SlideSize(width=2220, height=2967, mpp=0.499)
    params = {"target_mpp": 2.0, "tile_size": 256, "overlap": 32}
    expected = plan_grid(2220, 2967, slide_mpp=0.499, target_mpp=2.0, tile_size=256, halo=16)
    assert estimate_tiles("tissue_mask", params, slide) == expected.n_tiles > 1


def test_cell_segmentation_is_estimated_at_the_models_pixel_size() -> None:
    slide = SlideSize(width=2220, height=2967, mpp=0.499)
    grid = plan_grid(2220, 2967, slide_mpp=0.499, target_mpp=0.5, tile_size=512, halo=64)
    assert estimate_tiles("cell_segmentation", {}, slide) == grid.n_tiles == 48
    # an mpp override stands in for the slide's (here one that the file does not know)
    unknown = SlideSize(width=2220, height=2967, mpp=None)
    assert estimate_tiles("cell_segmentation", {}, unknown) is None
    assert estimate_tiles("cell_segmentation", {"mpp": 0.499}, unknown) == 48


def test_a_slide_job_without_its_slide_has_no_estimate() -> None:
    assert estimate_tiles("tissue_mask", {}, None) is None
    assert estimate_tiles("unknown", {}, SlideSize(10, 10, 1.0)) is None


# --- percent -----------------------------------------------------------------------------


def test_percent_agrees_with_the_tiles_it_stands_beside() -> None:
    # the workflow of the issue: 106 of 329 tiles is 32.2 %, not 45 %
    assert percent(106, 329) == 32.2
    assert percent(328, 329) == 99.6
    assert percent(329, 329) == 100.0


def test_nothing_expected_is_done_only_when_complete() -> None:
    assert percent(0, 0) == 0.0
    assert percent(0, 0, complete=True) == 100.0


@given(st.integers(0, 10**9), st.integers(1, 10**9))
def test_percent_never_exceeds_the_tiles(done: int, expected: int) -> None:
    shown = percent(done, expected)
    assert 0.0 <= shown <= 100.0
    assert shown <= 100 * min(done, expected) / expected + 1e-9
    assert shown > 100 * min(done, expected) / expected - 0.1 - 1e-9


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(1, 10**9))
def test_percent_grows_with_the_tiles_done(a: int, b: int, expected: int) -> None:
    low, high = sorted((a, b))
    assert percent(low, expected) <= percent(high, expected)


@given(st.integers(0, 10**9), st.integers(1, 10**9))
def test_percent_is_100_only_when_every_tile_is_done(done: int, expected: int) -> None:
    assert (percent(done, expected) == 100.0) == (done >= expected)


# --- rate and ETA ------------------------------------------------------------------------


def test_the_rate_is_measured_over_the_window() -> None:
    samples = [Sample(at(t), 2 * t) for t in range(0, 61, 5)]  # 2 tiles/s throughout
    assert rate(samples, at(60)) == 2.0
    # a faster last half minute shows in the rate, not averaged away by the first
    faster = [*samples, Sample(at(90), 120 + 5 * 30)]
    assert rate(faster, at(90)) == 5.0


def test_two_samples_a_moment_apart_are_no_rate() -> None:
    # the end of a job: the last progress and the final one 50 ms later
    assert rate([Sample(at(0), 0), Sample(at(0.05), 40)], at(0.05)) is None
    assert rate([Sample(at(0), 0)], at(10)) is None
    assert rate([Sample(at(0), 0), Sample(at(10), 20)], at(10)) == 2.0


def test_samples_after_now_are_not_seen() -> None:
    samples = [Sample(at(0), 0), Sample(at(10), 10), Sample(at(20), 1000)]
    assert rate(samples, at(10)) == 1.0


def test_the_eta_is_what_is_left_at_the_rate() -> None:
    assert eta_s(100, 4.0) == 25.0
    assert eta_s(100, None) is None
    assert eta_s(100, 0.0) is None
    assert remaining(10, 8, ended=0) == 0


# --- throughput series -------------------------------------------------------------------


def test_a_series_spreads_tiles_over_equal_steps() -> None:
    deltas = [(at(t + 0.5), 3) for t in range(10)]  # 3 tiles each second
    points = series(deltas, at(0), at(10))
    assert len(points) == 10
    assert [p.rate for p in points] == [3.0] * 10
    assert points[0].at == at(0)


def test_a_long_series_has_at_most_its_points() -> None:
    deltas = [(at(t), 1) for t in range(3600)]
    points = series(deltas, at(0), at(3600))
    assert len(points) == MAX_SERIES_POINTS
    assert sum(p.rate for p in points) * 30 == 3600  # steps of 30 s keep every tile


def test_a_stall_reads_as_zero_and_nothing_outside_counts() -> None:
    deltas = [(at(0.5), 5), (at(9.5), 5), (at(-1), 100), (at(11), 100)]
    rates = [p.rate for p in series(deltas, at(0), at(10))]
    assert rates == [5.0, 0, 0, 0, 0, 0, 0, 0, 0, 5.0]
    assert series(deltas, at(10), at(10)) == []


def test_a_workflows_estimates_are_those_that_can_be_told() -> None:
    spec = WorkflowSpec.model_validate(
        {
            "jobs": [
                {"id": "load", "type": "synthetic", "params": {"tiles": 7}},
                {"id": "mask", "type": "tissue_mask", "slide": "a.svs"},
                {"id": "lost", "type": "tissue_mask", "slide": "b.svs"},
            ]
        }
    )
    slides = {"a.svs": SlideSize(width=4096, height=2048, mpp=1.0)}
    mask = plan_grid(4096, 2048, slide_mpp=1.0, target_mpp=8.0, tile_size=512, halo=32)
    assert estimate_workflow(spec, slides) == {"load": 7, "mask": mask.n_tiles}
