"""The projector turns a job's whole life into read-model rows, idempotently."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tessera.bus import Bus
from tessera.events import (
    Event,
    JobAttemptFailed,
    JobCancelled,
    JobPlanned,
    JobProgressed,
    JobRerun,
    JobRetryScheduled,
    JobSkipped,
    JobStarted,
    JobSucceeded,
    TenantActivated,
    TenantQueued,
    WorkflowAdmitted,
    WorkflowFinished,
    WorkflowSubmitted,
)
from tessera.gateway.api.models import Progress, WorkflowView
from tessera.projector.handlers import Projector
from tessera.projector.main import replay
from tessera.readmodel import queries
from tessera.settings import Settings
from tessera.workflows import WorkflowSpec, WorkflowState, validate_workflow
from tests.conftest import running
from tests.polling import eventually

pytestmark = pytest.mark.integration


async def settled(projector: Projector, bus: Bus, timeout: float = 5.0) -> None:
    end = await bus.last_sequence()

    async def applied() -> int:
        return projector.last_seq

    await eventually(applied, lambda seq: seq >= end, timeout=timeout, what=f"projected to {end}")


async def append_at(
    projector: Projector, bus: Bus, t0: datetime, timeline: Iterable[tuple[float, Event]]
) -> None:
    """Append each event at `t0` + its seconds of log time, then wait until all are projected."""
    for seconds, ev in timeline:
        await bus.append(ev.model_copy(update={"occurred_at": t0 + timedelta(seconds=seconds)}))
    await settled(projector, bus)


async def test_a_retried_job_and_a_skipped_one_end_up_as_the_log_says(
    bus: Bus, pool: asyncpg.Pool, projector: Projector, settings: Settings
) -> None:
    t, w = uuid.uuid4(), uuid.uuid4()
    spec = validate_workflow(
        WorkflowSpec.model_validate(
            {
                "jobs": [
                    {"id": "a", "type": "synthetic", "retries": 1},
                    {"id": "b", "type": "synthetic", "depends_on": ["a"], "branch": "x"},
                ]
            }
        )
    )
    ids = {"tenant_id": t, "workflow_id": w}
    for ev in (
        WorkflowSubmitted(**ids, spec=spec),
        TenantQueued(tenant_id=t, position=1),
        TenantQueued(tenant_id=t, position=1),  # a re-announced position keeps the arrival
        TenantActivated(tenant_id=t),
        WorkflowAdmitted(**ids),
        JobStarted(**ids, job_id="a", attempt=1),
        JobPlanned(**ids, job_id="a", attempt=1, tiles_total=10),
        JobProgressed(**ids, job_id="a", attempt=1, tiles_done=4, tiles_total=10),
        JobAttemptFailed(**ids, job_id="a", attempt=1, reason="boom"),
        JobRetryScheduled(**ids, job_id="a", attempt=1, retry_at=datetime.now(UTC), reason="boom"),
        JobStarted(**ids, job_id="a", attempt=2),
        JobPlanned(**ids, job_id="a", attempt=2, tiles_total=10),
        JobProgressed(**ids, job_id="a", attempt=2, tiles_done=7, tiles_total=10),
        JobSucceeded(**ids, job_id="a", attempt=2, summary={"cells": 3}),
        JobSkipped(**ids, job_id="b", reason="for the test"),
        WorkflowFinished(**ids, state=WorkflowState.SUCCEEDED),
    ):
        await bus.append(ev)
    await settled(projector, bus)

    async with pool.acquire() as conn:
        wf = await queries.get_workflow(conn, t, w)
        job = await queries.get_job(conn, t, w, "a")
        tenant = await conn.fetchrow("SELECT * FROM tenants WHERE tenant_id = $1", t)
        live = await queries.snapshot(conn)
    assert wf is not None and job is not None
    assert wf["state"] == "SUCCEEDED" and wf["jobs_finished"] == 2
    # b's 20 tiles stay expected: it ended (skipped) without any done
    assert (wf["tiles_done"], wf["tiles_total"], wf["tiles_ended"]) == (10, 30, 20)
    assert job["state"] == "SUCCEEDED" and job["attempt"] == 2
    assert job["summary"] == {"cells": 3}
    assert [(h["event_type"], h["state"], h["attempt"]) for h in job["history"]] == [
        ("JobStarted", "RUNNING", 1),
        ("JobAttemptFailed", "RUNNING", 1),
        ("JobRetryScheduled", "PENDING", 1),
        ("JobStarted", "RUNNING", 2),
        ("JobSucceeded", "SUCCEEDED", 2),
    ]
    assert tenant["state"] == "ACTIVE"

    await replay(settings)
    async with pool.acquire() as conn:
        assert await queries.snapshot(conn) == live


async def test_workflow_progress_weighs_jobs_by_their_expected_tiles(
    bus: Bus, pool: asyncpg.Pool, projector: Projector
) -> None:
    """The issue's figures: percent agrees with the tiles, the total does not jump when a job is
    planned as estimated, cancelling a pending job does not move the percent, and a cancelled
    workflow stays short of 100 %."""
    t, w = uuid.uuid4(), uuid.uuid4()
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    spec = validate_workflow(
        WorkflowSpec.model_validate(
            {
                "jobs": [
                    {"id": "a", "type": "synthetic", "params": {"tiles": 100}},
                    {"id": "b", "type": "tissue_mask", "slide": "x.svs", "branch": "b"},
                    {"id": "c", "type": "synthetic", "params": {"tiles": 50}, "branch": "c"},
                ]
            }
        )
    )
    ids = {"tenant_id": t, "workflow_id": w}
    clock = iter(range(1000))

    async def progress_after(*events: Event) -> Progress:
        for ev in events:
            at = t0 + timedelta(seconds=next(clock))
            await bus.append(ev.model_copy(update={"occurred_at": at}))
        await settled(projector, bus)
        async with pool.acquire() as conn:
            wf = await queries.get_workflow(conn, t, w)
        assert wf is not None
        return WorkflowView.of(wf).progress

    submitted = await progress_after(
        WorkflowSubmitted(**ids, spec=spec, estimates={"a": 100, "b": 50, "c": 50}),
        WorkflowAdmitted(**ids),
    )
    assert (submitted.tiles_total, submitted.estimated, submitted.percent) == (200, True, 0.0)
    a = {**ids, "job_id": "a", "attempt": 1}
    running = await progress_after(
        JobStarted(**a),
        JobPlanned(**a, tiles_total=100),
        *(JobProgressed(**a, tiles_done=d, tiles_total=100) for d in range(7, 50, 7)),
    )
    assert (running.tiles_done, running.tiles_total) == (49, 200)
    assert running.percent == 24.5  # 49 / 200, as the tiles say
    assert running.rate == 7.0 and running.eta_s == pytest.approx(151 / 7, abs=0.1)
    cancelled_c = await progress_after(JobCancelled(**ids, job_id="c"))
    # c's 50 expected tiles end instead of leaving the total: no jump from 24.5 to 32.6 %
    assert (cancelled_c.percent, cancelled_c.tiles_total, cancelled_c.tiles_ended) == (
        24.5,
        200,
        50,
    )
    planned_b = await progress_after(
        JobStarted(**ids, job_id="b", attempt=1),
        JobPlanned(**ids, job_id="b", attempt=1, tiles_total=60),
    )
    assert (planned_b.tiles_total, planned_b.estimated) == (210, False)
    finished = await progress_after(
        JobCancelled(**ids, job_id="b", reason="by the user"),
        JobCancelled(**ids, job_id="a", reason="by the user"),
        WorkflowFinished(**ids, state=WorkflowState.CANCELLED),
    )
    assert (finished.tiles_done, finished.tiles_ended, finished.tiles_total) == (49, 161, 210)
    assert finished.percent == 23.3 and finished.rate is None and finished.eta_s is None


async def test_the_rate_is_the_last_half_minute_and_resets_with_an_attempt(
    bus: Bus, pool: asyncpg.Pool, projector: Projector
) -> None:
    t, w = uuid.uuid4(), uuid.uuid4()
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    spec = validate_workflow(
        WorkflowSpec.model_validate({"jobs": [{"id": "a", "type": "synthetic", "retries": 1}]})
    )
    ids = {"tenant_id": t, "workflow_id": w, "job_id": "a"}
    timeline: list[tuple[float, Event]] = [
        (0, WorkflowSubmitted(tenant_id=t, workflow_id=w, spec=spec)),
        (1, JobStarted(**ids, attempt=1)),
        (2, JobPlanned(**ids, attempt=1, tiles_total=1000)),
        *((2 + s, JobProgressed(**ids, attempt=1, tiles_done=s, tiles_total=1000))
          for s in range(10, 61, 10)),  # 1 tile/s for a minute
    ]  # fmt: skip
    faster = [
        (62 + s, JobProgressed(**ids, attempt=1, tiles_done=60 + 4 * s, tiles_total=1000))
        for s in range(10, 31, 10)
    ]  # then 4 tiles/s for half a minute
    await append_at(projector, bus, t0, timeline)
    async with pool.acquire() as conn:
        job = await queries.get_job(conn, t, w, "a")
    assert job is not None and job["rate"] == 1.0
    # the samples kept between events are gone (as after a restart): read back, same rate
    assert projector.windows.kept
    projector.windows.clear()
    await append_at(projector, bus, t0, faster)
    async with pool.acquire() as conn:
        job = await queries.get_job(conn, t, w, "a")
    assert job is not None and job["rate"] == 4.0
    assert [s["delta"] for s in job["samples"]] == [0] + [10] * 6 + [40] * 3
    await append_at(
        projector,
        bus,
        t0,
        (
            (100, JobAttemptFailed(**ids, attempt=1, reason="boom")),
            (101, JobRetryScheduled(**ids, attempt=1, retry_at=t0, reason="boom")),
            (102, JobStarted(**ids, attempt=2)),
            (103, JobPlanned(**ids, attempt=2, tiles_total=1000)),
            (103.1, JobProgressed(**ids, attempt=2, tiles_done=500, tiles_total=1000)),
        ),
    )
    async with pool.acquire() as conn:
        job = await queries.get_job(conn, t, w, "a")
    # a new attempt measures afresh; 500 tiles 0.1 s after its plan is no rate (not 5000/s)
    assert job is not None and job["rate"] is None


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def test_job_timings_are_observed_once_in_log_time(bus: Bus, projector: Projector) -> None:
    t, w = uuid.uuid4(), uuid.uuid4()
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    spec = WorkflowSpec.model_validate(
        {"jobs": [{"id": "a", "type": "tissue_mask", "slide": "x.svs", "retries": 1},
                  {"id": "b", "type": "tissue_mask", "slide": "x.svs", "depends_on": ["a"]}]}
    )  # fmt: skip
    ids = {"tenant_id": t, "workflow_id": w}
    names = [f"tessera_job_{kind}_seconds_{part}" for kind in ("queued", "latency")
             for part in ("count", "sum")]  # fmt: skip
    before = {name: sample(name, {"type": "tissue_mask"}) for name in names}
    await append_at(
        projector,
        bus,
        t0,
        (
            (0, WorkflowSubmitted(**ids, spec=spec)),
            (2, JobStarted(**ids, job_id="a", attempt=1)),
            (3, JobAttemptFailed(**ids, job_id="a", attempt=1, reason="boom")),
            (4, JobRetryScheduled(**ids, job_id="a", attempt=1, retry_at=t0, reason="boom")),
            (5, JobStarted(**ids, job_id="a", attempt=2)),  # a retry: not queued again
            (9, JobSucceeded(**ids, job_id="a", attempt=2)),
            (10, JobSkipped(**ids, job_id="b", reason="never started: no run time")),
        ),
    )

    # differences of process-wide sums: other tests' tissue masks came first, so not exact in floats
    after = {name: sample(name, {"type": "tissue_mask"}) - before[name] for name in names}
    assert after == pytest.approx(
        {
            "tessera_job_queued_seconds_count": 1,
            "tessera_job_queued_seconds_sum": 2.0,  # submitted -> first start
            "tessera_job_latency_seconds_count": 1,
            "tessera_job_latency_seconds_sum": 7.0,  # first start -> success
        }
    )


async def test_the_projector_reports_how_far_it_is_behind_the_log(
    bus: Bus, pool: asyncpg.Pool
) -> None:
    from tessera.readmodel.schema import migrate

    async with pool.acquire() as conn:
        await migrate(conn)
    t = uuid.uuid4()
    for _ in range(3):
        await bus.append(TenantQueued(tenant_id=t, position=1))
    projector = Projector(bus, pool)
    await projector.load_checkpoint()
    await projector.measure_behind()
    assert sample("tessera_projector_behind_events") == 3
    async with running(projector.run):
        await settled(projector, bus)
        await projector.measure_behind()
        assert sample("tessera_projector_behind_events") == 0


async def test_a_rerun_reopens_the_jobs_ignores_the_old_attempts_result_and_replays_the_same(
    bus: Bus, pool: asyncpg.Pool, projector: Projector, settings: Settings
) -> None:
    t, w = uuid.uuid4(), uuid.uuid4()
    spec = validate_workflow(
        WorkflowSpec.model_validate(
            {
                "jobs": [
                    {"id": "a", "type": "synthetic"},
                    {"id": "b", "type": "synthetic", "depends_on": ["a"], "branch": "x"},
                ]
            }
        )
    )
    ids = {"tenant_id": t, "workflow_id": w}
    for ev in (
        WorkflowSubmitted(**ids, spec=spec),
        WorkflowAdmitted(**ids),
        JobStarted(**ids, job_id="a", attempt=1),
        JobPlanned(**ids, job_id="a", attempt=1, tiles_total=10),
        JobCancelled(**ids, job_id="a"),
        JobSkipped(**ids, job_id="b", reason="dependency 'a' cancelled"),
        WorkflowFinished(**ids, state=WorkflowState.CANCELLED),
        JobRerun(**ids, job_id="a", jobs=["a", "b"], attempts={"a": 1, "b": 0}, round=1, spec=spec),
    ):
        await bus.append(ev)
    await settled(projector, bus)
    async with pool.acquire() as conn:
        reopened = await queries.get_workflow(conn, t, w)
    assert reopened is not None and reopened["state"] == "QUEUED"
    assert reopened["finished_at"] is None and reopened["jobs_finished"] == 0
    assert [(j["state"], j["attempt"], j["tiles_total"]) for j in reopened["jobs"]] == [
        ("PENDING", 1, 0),
        ("PENDING", 0, 0),
    ]
    for ev in (
        JobSucceeded(**ids, job_id="a", attempt=1),  # the cancelled attempt's last tile, late
        WorkflowAdmitted(**ids, round=1),
        JobStarted(**ids, job_id="a", attempt=2),
        JobSucceeded(**ids, job_id="a", attempt=2),
    ):
        await bus.append(ev)
    await settled(projector, bus)
    async with pool.acquire() as conn:
        job = await queries.get_job(conn, t, w, "a")
        live = await queries.snapshot(conn)
    assert job is not None and (job["state"], job["attempt"]) == ("SUCCEEDED", 2)
    assert [(h["event_type"], h["state"], h["attempt"]) for h in job["history"]] == [
        ("JobStarted", "RUNNING", 1),
        ("JobCancelled", "CANCELLED", 0),
        ("JobRerun", "PENDING", 1),
        ("JobStarted", "RUNNING", 2),
        ("JobSucceeded", "SUCCEEDED", 2),
    ]
    await replay(settings)
    async with pool.acquire() as conn:
        assert await queries.snapshot(conn) == live
