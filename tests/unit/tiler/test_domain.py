"""The tiler's pure decisions: folding the log, fair refills, planning helpers, failures."""

from __future__ import annotations

import itertools
import uuid
from collections import Counter, deque

from hypothesis import given
from hypothesis import strategies as st

from tessera.errors import SlideError
from tessera.events import (
    JobAttemptFailed,
    JobCancelled,
    JobPlanned,
    JobRerun,
    JobStarted,
    JobSucceeded,
    WorkflowFinished,
    WorkflowSubmitted,
)
from tessera.segmentation.errors import ModelUnavailable
from tessera.tiler.domain import (
    Backlog,
    Ended,
    Started,
    TilerState,
    evolve,
    failure_of,
    mask_dependency,
    refill,
    spread,
)
from tessera.tiling.work import JobRef
from tessera.workflows import JobSpec, WorkflowSpec, WorkflowState

T, W = uuid.uuid4(), uuid.uuid4()
SPEC = WorkflowSpec(
    jobs=(
        JobSpec(id="mask", type="tissue_mask", slide="a.svs", branch="qc"),
        JobSpec(id="cells", type="cell_segmentation", slide="a.svs", depends_on=("mask",)),
        JobSpec(id="other", type="cell_segmentation", slide="b.svs", depends_on=("mask",)),
    )
)


def job(kind: type, job_id: str = "cells", attempt: int = 1, **fields: object) -> object:
    return kind(tenant_id=T, workflow_id=W, job_id=job_id, attempt=attempt, **fields)


def ref(job_id: str = "cells", attempt: int = 1) -> JobRef:
    return JobRef(tenant_id=T, workflow_id=W, job_id=job_id, attempt=attempt)


def submitted() -> TilerState:
    state = TilerState()
    evolve(state, WorkflowSubmitted(tenant_id=T, workflow_id=W, spec=SPEC))
    return state


def test_an_attempt_starts_is_planned_and_ends() -> None:
    state = submitted()
    assert evolve(state, job(JobStarted)) == Started(ref())
    assert state.spec(ref()) == SPEC.job("cells")
    evolve(state, job(JobPlanned, tiles_total=3))
    assert ref() in state.planned
    assert evolve(state, job(JobStarted)) is None  # redelivered / replayed twice
    assert evolve(state, job(JobSucceeded)) == Ended(ref(), "JobSucceeded")
    assert not state.running and not state.planned


def test_stale_attempts_change_nothing() -> None:
    state = submitted()
    evolve(state, job(JobStarted, attempt=2))
    assert evolve(state, job(JobStarted, attempt=1)) is None
    assert evolve(state, job(JobAttemptFailed, attempt=1, reason="old")) is None
    assert state.is_running(ref(attempt=2))
    assert evolve(state, job(JobAttemptFailed, attempt=2, reason="x")) == Ended(
        ref(attempt=2), "JobAttemptFailed"
    )
    assert evolve(state, job(JobStarted, attempt=3)) == Started(ref(attempt=3))


def test_cancel_ends_the_running_attempt() -> None:
    state = submitted()
    evolve(state, job(JobStarted, attempt=2))
    cancelled = JobCancelled(tenant_id=T, workflow_id=W, job_id="cells")
    assert evolve(state, cancelled) == Ended(ref(attempt=2), "JobCancelled")


def test_a_spec_of_another_tenant_is_not_found() -> None:
    state = submitted()
    stranger = JobRef(tenant_id=uuid.uuid4(), workflow_id=W, job_id="cells", attempt=1)
    assert state.spec(stranger) is None
    assert state.spec(ref("nope")) is None


def test_finished_workflows_are_forgotten() -> None:
    state = submitted()
    evolve(state, job(JobStarted))
    evolve(state, WorkflowFinished(tenant_id=T, workflow_id=W, state=WorkflowState.FAILED))
    assert state == TilerState()


def test_a_rerun_of_a_finished_workflow_brings_its_spec_back() -> None:
    state = submitted()
    evolve(state, job(JobStarted))
    evolve(state, WorkflowFinished(tenant_id=T, workflow_id=W, state=WorkflowState.FAILED))
    rerun = {"tenant_id": T, "workflow_id": W, "job_id": "cells", "jobs": ["cells"], "round": 1}
    evolve(state, JobRerun(**rerun, attempts={"cells": 1}, spec=SPEC))
    assert evolve(state, job(JobStarted, attempt=2)) == Started(ref(attempt=2))
    assert state.spec(ref(attempt=2)) == SPEC.job("cells")


def test_a_cell_job_reuses_a_succeeded_mask_of_the_same_slide() -> None:
    state = submitted()
    assert mask_dependency(state, ref(), SPEC.job("cells")) is None
    evolve(state, job(JobStarted, "mask", attempt=2))
    evolve(state, job(JobSucceeded, "mask", attempt=2))
    assert mask_dependency(state, ref(), SPEC.job("cells")) == ref("mask", 2)
    assert mask_dependency(state, ref("other"), SPEC.job("other")) is None  # another slide


def test_refill_shares_one_window_between_the_running_jobs() -> None:
    # a has 3 in TILES, b none (it just started), c has 1 batch left, d has 1 in TILES
    jobs = [Backlog("a", 3, 10), Backlog("b", 0, 10), Backlog("c", 0, 1), Backlog("d", 1, 9)]
    assert refill(jobs, 8, 4) == ["b", "c", "d", "b"]  # 4 free places, the emptiest first
    assert refill(jobs, 4, 4) == []  # the window is full: b waits behind 4 batches, not 3 windows
    alone = [Backlog("a", 0, 100)]
    assert refill(alone, 8, 0) == ["a"] * 8  # one job alone has the whole window
    # equally loaded jobs: the first in turn order goes first
    assert refill([Backlog("x", 1, 5), Backlog("y", 1, 5)], 3, 2) == ["x"]


def test_batches_of_jobs_with_nothing_left_to_publish_fill_the_window_too() -> None:
    # three one-batch jobs published theirs and left the backlog: their batches still wait
    assert refill([Backlog("d", 0, 1), Backlog("e", 0, 1)], 4, 3) == ["d"]
    assert refill([Backlog("f", 0, 1)], 4, 4) == []


@given(
    st.lists(st.tuples(st.integers(0, 12), st.integers(0, 30)), min_size=1),
    st.integers(1, 24),
    st.integers(0, 30),
)
def test_refill_never_overfills_and_is_fair(
    jobs: list[tuple[int, int]], window: int, elsewhere: int
) -> None:
    backlog = [Backlog(str(i), f, r) for i, (f, r) in enumerate(jobs)]
    in_tiles = sum(b.in_flight for b in backlog) + elsewhere  # and those of finished publishers
    order = refill(backlog, window, in_tiles)
    counts = Counter(order)
    assert len(order) == max(0, min(window - in_tiles, sum(b.remaining for b in backlog)))
    for b in backlog:
        assert counts[b.key] <= b.remaining
    # fairness: after the refill, a job with batches left has no fewer in TILES than another
    # that was given one (each place went to the emptiest job)
    after = {b.key: b.in_flight + counts[b.key] for b in backlog}
    for b in backlog:
        if b.remaining > counts[b.key]:  # could have had more
            for other in backlog:
                if counts[other.key]:
                    assert after[b.key] >= after[other.key] - 1


@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(1, 12)), min_size=1, max_size=40),
    st.integers(1, 8),
    st.lists(st.integers(1, 3), min_size=1, max_size=20),
)
def test_the_tiler_loop_bounds_tiles_and_serves_every_job_in_turn(
    arrivals: list[tuple[int, int]], window: int, served_per_tick: list[int]
) -> None:
    """The shell's loop on a FIFO TILES: jobs of `size` batches start at their tick; each tick
    the tiler refills (a job given a place goes to the back of the turn order, one with nothing
    left leaves it) and the pool answers some batches from the head of the queue."""
    pumps: dict[str, int] = {}  # key -> batches not yet published, in turn order
    tiles: deque[str] = deque()
    published: Counter[str] = Counter()
    places: list[str] = []  # every place given, in order
    crowd = 0  # the most jobs waiting to publish at once
    tick = 0
    while tick <= 40 or pumps or tiles:
        for n, (start, size) in enumerate(arrivals):
            if start == tick:
                pumps[f"j{n}"] = size
        crowd = max(crowd, len(pumps))
        counts = Counter(tiles)
        backlog = [Backlog(k, counts[k], left) for k, left in pumps.items()]
        for key in refill(backlog, window, len(tiles)):
            tiles.append(key)
            published[key] += 1
            places.append(key)
            pumps[key] = pumps.pop(key) - 1
        pumps = {k: left for k, left in pumps.items() if left}
        assert len(tiles) <= window  # never more than the window in TILES
        for _ in range(served_per_tick[tick % len(served_per_tick)]):
            if tiles:
                tiles.popleft()
        tick += 1
        assert tick < 10_000, "the loop does not drain"

    assert published == Counter({f"j{n}": size for n, (_, size) in enumerate(arrivals)})
    # in turn: between two places of a job, the others get at most what is ahead of its batch
    # in TILES (a window), what was free when it was served (a window) and one turn each
    for key in published:
        mine = [n for n, k in enumerate(places) if k == key]
        for a, b in itertools.pairwise(mine):
            assert b - a - 1 <= 2 * window + crowd


def test_spread_picks_evenly_including_both_ends() -> None:
    assert spread(list(range(100)), 5) == [0, 25, 50, 74, 99]
    assert spread([3, 4], 8) == [3, 4]
    assert spread([], 3) == [] and spread([1, 2, 3], 1) == [2]


def test_failures_say_what_went_wrong_and_whether_a_retry_helps() -> None:
    assert failure_of(SlideError("x.svs", "unreadable or corrupt slide (bad)")) == (
        "slide 'x.svs': unreadable or corrupt slide (bad)",
        False,
    )
    assert failure_of(ModelUnavailable("m", "no such file"))[1] is False
    assert failure_of(ModelUnavailable("m", "download failed: timeout"))[1] is True
    reason, retryable = failure_of(ValueError("halo 300 leaves no core"))
    assert "halo 300" in reason and not retryable
    assert failure_of(RuntimeError("boom"))[1] is True
