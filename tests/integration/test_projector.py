"""The projector turns a job's whole life into read-model rows, idempotently."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tessera.bus import Bus
from tessera.events import (
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
    assert (wf["tiles_done"], wf["tiles_total"]) == (10, 10)
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


async def test_workflow_percent_weighs_jobs_and_never_falls_when_a_job_is_planned(
    bus: Bus, pool: asyncpg.Pool, projector: Projector
) -> None:
    t, w = uuid.uuid4(), uuid.uuid4()
    spec = validate_workflow(
        WorkflowSpec.model_validate(
            {"jobs": [{"id": "a", "type": "synthetic"}, {"id": "b", "type": "synthetic"}]}
        )
    )
    ids = {"tenant_id": t, "workflow_id": w}

    async def progress_after(*events: object) -> tuple[int, int, float]:
        for ev in events:
            await bus.append(ev)  # type: ignore[arg-type]
        await settled(projector, bus)
        async with pool.acquire() as conn:
            wf = await queries.get_workflow(conn, t, w)
        assert wf is not None
        return wf["tiles_done"], wf["tiles_total"], wf["percent"]

    assert await progress_after(WorkflowSubmitted(**ids, spec=spec)) == (0, 0, 0.0)
    running_a = await progress_after(
        JobStarted(**ids, job_id="a", attempt=1),
        JobPlanned(**ids, job_id="a", attempt=1, tiles_total=10),
        JobProgressed(**ids, job_id="a", attempt=1, tiles_done=5, tiles_total=10),
    )
    # tile-weighted this would read 50 %: half of the only planned job, with b still to come
    assert running_a == (5, 10, pytest.approx(25.0))
    done_a = await progress_after(JobSucceeded(**ids, job_id="a", attempt=1, summary={}))
    assert done_a == (10, 10, pytest.approx(50.0))
    # b planned with many tiles: the tile ratio falls to 10/40, the percent does not
    planned_b = await progress_after(
        JobStarted(**ids, job_id="b", attempt=1),
        JobPlanned(**ids, job_id="b", attempt=1, tiles_total=30),
    )
    assert planned_b == (10, 40, pytest.approx(50.0))
    assert (await progress_after(JobSucceeded(**ids, job_id="b", attempt=1, summary={})))[2] == (
        pytest.approx(100.0)
    )


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
    for seconds, ev in (
        (0, WorkflowSubmitted(**ids, spec=spec)),
        (2, JobStarted(**ids, job_id="a", attempt=1)),
        (3, JobAttemptFailed(**ids, job_id="a", attempt=1, reason="boom")),
        (4, JobRetryScheduled(**ids, job_id="a", attempt=1, retry_at=t0, reason="boom")),
        (5, JobStarted(**ids, job_id="a", attempt=2)),  # a retry: not queued again
        (9, JobSucceeded(**ids, job_id="a", attempt=2)),
        (10, JobSkipped(**ids, job_id="b", reason="never started: no run time")),
    ):
        await bus.append(ev.model_copy(update={"occurred_at": t0 + timedelta(seconds=seconds)}))
    await settled(projector, bus)

    after = {name: sample(name, {"type": "tissue_mask"}) - before[name] for name in names}
    assert after == {
        "tessera_job_queued_seconds_count": 1,
        "tessera_job_queued_seconds_sum": 2.0,  # submitted -> first start
        "tessera_job_latency_seconds_count": 1,
        "tessera_job_latency_seconds_sum": 7.0,  # first start -> success
    }


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
