"""Admission and the branch-sequencer on a real NATS log, with a stand-in data plane."""

from __future__ import annotations

import asyncio
import collections
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tessera.branch_sequencer.domain import SequencerState, Tick, decide
from tessera.branch_sequencer.handlers import Sequencer
from tessera.bus import Bus, Envelope
from tessera.events import (
    JobAttemptFailed,
    JobStarted,
    JobSucceeded,
    WorkflowAdmitted,
    WorkflowSubmitted,
)
from tessera.workflows import WorkflowSpec
from tests.conftest import running
from tests.polling import eventually

pytestmark = pytest.mark.integration


def spec(lanes: int = 2, per_lane: int = 2, retries: int = 0) -> WorkflowSpec:
    """`lanes` branches of `per_lane` jobs; each lane's second job also waits on the lane before."""
    jobs = []
    for b in range(lanes):
        for i in range(per_lane):
            deps = [f"b{b - 1}j{i}"] if b and i == 1 else []
            jobs.append(
                {"id": f"b{b}j{i}", "type": "synthetic", "branch": f"b{b}",
                 "depends_on": deps, "retries": retries}
            )  # fmt: skip
    return WorkflowSpec.model_validate({"jobs": jobs})


class FakeDataPlane:
    """Completes every started job after `delay`; fails the chosen (job, attempt)s once."""

    def __init__(self, bus: Bus, delay: float, fail: set[tuple[str, int]] = frozenset()) -> None:
        self.bus, self.delay, self.fail = bus, delay, set(fail)
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        start = await self.bus.last_sequence() + 1
        async with self.bus.feed(start_seq=start) as feed:
            while not stop.is_set():
                for env in await feed.batch(timeout=0.1):
                    if isinstance(env.event, JobStarted):
                        task = asyncio.create_task(self.finish(env.event))
                        self.tasks.add(task)
                        task.add_done_callback(self.tasks.discard)
        for task in self.tasks:
            task.cancel()

    async def finish(self, ev: JobStarted) -> None:
        await asyncio.sleep(self.delay)
        ids = {"tenant_id": ev.tenant_id, "workflow_id": ev.workflow_id, "job_id": ev.job_id,
               "attempt": ev.attempt}  # fmt: skip
        if (ev.job_id, ev.attempt) in self.fail:
            await self.bus.append(JobAttemptFailed(**ids, reason="simulated"))
        else:
            await self.bus.append(JobSucceeded(**ids))


async def read_log(bus: Bus) -> list[Envelope]:
    return [env async for env in bus.read_events()]


async def wait_for_log(bus: Bus, check: Any, timeout: float = 30.0) -> list[Envelope]:
    return await eventually(
        lambda: read_log(bus),
        check,
        timeout=timeout,
        every=0.2,
        what="the log's check",
        show=lambda envs: collections.Counter(e.event.type for e in envs),
    )


def finished(n: int) -> Any:
    return lambda envs: sum(e.event.type == "WorkflowFinished" for e in envs) >= n


def check_rules(envs: list[Envelope], max_workers: int, max_active: int) -> dict[str, Any]:
    """Replay the log and assert the scheduling rules held at every step."""
    active: set[uuid.UUID] = set()
    specs: dict[uuid.UUID, WorkflowSpec] = {}
    running_jobs: dict[tuple[uuid.UUID, str], str] = {}
    lane_running: collections.Counter[tuple[uuid.UUID, str]] = collections.Counter()
    ended: collections.Counter[tuple[uuid.UUID, str]] = collections.Counter()
    succeeded: set[tuple[uuid.UUID, str]] = set()
    lane_order: dict[tuple[uuid.UUID, str], list[str]] = collections.defaultdict(list)
    activations: list[uuid.UUID] = []
    releases_before: dict[uuid.UUID, int] = {}
    parallel_lanes = 0
    for env in envs:
        e = env.event
        if isinstance(e, WorkflowSubmitted):
            specs[e.workflow_id] = e.spec
        elif e.type == "TenantActivated":
            active.add(e.tenant_id)
            assert len(active) <= max_active, "too many active tenants"
            activations.append(e.tenant_id)
            releases_before[e.tenant_id] = sum(x.event.type == "TenantReleased" for x in envs
                                               if x.seq < env.seq)  # fmt: skip
        elif e.type == "TenantReleased":
            active.discard(e.tenant_id)
        elif isinstance(e, JobStarted):
            key = (e.workflow_id, e.job_id)
            job = specs[e.workflow_id].job(e.job_id)
            lane = (e.workflow_id, job.branch)
            assert e.tenant_id in active, "a job started for a tenant without a slot"
            assert all((e.workflow_id, d) in succeeded for d in job.depends_on), "deps first"
            lane_running[lane] += 1
            assert lane_running[lane] == 1, "two jobs of one lane running"
            running_jobs[key] = job.branch
            assert len(running_jobs) <= max_workers, "more than MAX_WORKERS running"
            same_workflow = {b for (w, _), b in running_jobs.items() if w == e.workflow_id}
            parallel_lanes = max(parallel_lanes, len(same_workflow))
            if e.attempt == 1:
                lane_order[lane].append(e.job_id)
        elif e.type in ("JobSucceeded", "JobAttemptFailed"):
            key = (e.workflow_id, e.job_id)
            branch = running_jobs.pop(key)
            lane_running[(e.workflow_id, branch)] -= 1
            if e.type == "JobSucceeded":
                succeeded.add(key)
                ended[key] += 1
        elif e.type in ("JobFailed", "JobCancelled", "JobSkipped"):
            ended[(e.workflow_id, e.job_id)] += 1
    for wid, s in specs.items():
        for job in s.jobs:
            assert ended[(wid, job.id)] == 1, f"{job.id} did not end exactly once"
        for branch, ids in s.lanes().items():
            started = lane_order[(wid, branch)]
            assert started == [i for i in ids if i in started], "lane not FIFO"
    return {"activations": activations, "releases_before": releases_before,
            "parallel_lanes": parallel_lanes}  # fmt: skip


async def test_five_tenants_three_slots_serial_lanes_parallel_branches_retries(
    bus: Bus, scheduler: object
) -> None:
    tenants = [uuid.uuid4() for _ in range(5)]
    async with running(FakeDataPlane(bus, 0.1, {("b0j0", 1)}).run):
        for tenant in tenants:
            for _ in range(2):
                await bus.append(
                    WorkflowSubmitted(
                        tenant_id=tenant, workflow_id=uuid.uuid4(), spec=spec(retries=1)
                    )
                )
        envs = await wait_for_log(bus, finished(10), timeout=60)
    facts = check_rules(envs, max_workers=4, max_active=3)
    assert facts["activations"][:3] == tenants[:3]
    assert set(facts["activations"]) == set(tenants)
    for late in tenants[3:]:  # tenants 4 and 5 waited for one of the first three to finish
        assert facts["releases_before"][late] >= 1
    assert facts["parallel_lanes"] == 2  # the branches of one workflow ran side by side
    assert sum(e.event.type == "JobRetryScheduled" for e in envs) == 10  # b0j0 of each failed once


async def test_cancel_over_http_pending_and_running_ok_ended_409_other_tenant_404(
    bus: Bus, scheduler: object, gateway: httpx.AsyncClient
) -> None:
    tenant, stranger = str(uuid.uuid4()), str(uuid.uuid4())
    body = {"jobs": [{"id": f"j{i}", "type": "synthetic", "branch": "one"} for i in range(4)]}
    accepted = await gateway.post("/v1/workflows", json=body, headers={"X-User-ID": tenant})
    wid = accepted.json()["workflow_id"]
    await wait_for_log(  # nothing finishes jobs here: j0 stays RUNNING
        bus, lambda envs: any(e.event.type == "JobStarted" for e in envs), timeout=10
    )

    def cancel(path: str, who: str = tenant) -> Any:
        return gateway.post(f"/v1/workflows/{wid}{path}/cancel", headers={"X-User-ID": who})

    assert (await cancel("/jobs/j1", stranger)).status_code == 404
    pending = await cancel("/jobs/j1")
    assert pending.status_code == 200 and pending.json()["cancelled"] == ["j1"]
    again = await cancel("/jobs/j1")
    assert again.status_code == 409 and again.json()["error"]["state"] == "CANCELLED"
    running_job = await cancel("/jobs/j0")  # its slot frees at once: the lane moves on to j2
    assert running_job.status_code == 200 and running_job.json()["cancelled"] == ["j0"]
    await wait_for_log(
        bus,
        lambda envs: any(e.event.type == "JobStarted" and e.event.job_id == "j2" for e in envs),
        timeout=10,
    )
    whole = await cancel("")
    assert whole.status_code == 200 and whole.json()["cancelled"] == ["j2", "j3"]
    envs = await read_log(bus)
    cancelled = [e.event.job_id for e in envs if e.event.type == "JobCancelled"]
    assert cancelled == ["j1", "j0", "j2", "j3"]


async def test_a_sequencer_restarted_during_a_backoff_retries_on_time(bus: Bus) -> None:
    from tessera.admission.domain import AdmissionState
    from tessera.admission.handlers import Admission

    def state() -> SequencerState:
        return SequencerState(max_workers=2, retry_base=timedelta(seconds=1))

    wid = uuid.uuid4()
    one_job = WorkflowSpec.model_validate(
        {"jobs": [{"id": "a", "type": "synthetic", "retries": 2}]}
    )
    async with (
        running(Admission(bus, AdmissionState(max_active_tenants=3)).run),
        running(FakeDataPlane(bus, 0.05, {("a", 1)}).run),
    ):
        async with running(Sequencer(bus, state()).run):
            await bus.append(
                WorkflowSubmitted(tenant_id=uuid.uuid4(), workflow_id=wid, spec=one_job)
            )
            await wait_for_log(
                bus, lambda envs: any(e.event.type == "JobRetryScheduled" for e in envs)
            )
        async with running(Sequencer(bus, state()).run):  # a new process: state from the log
            envs = await wait_for_log(bus, finished(1))
    starts = [e.event for e in envs if isinstance(e.event, JobStarted)]
    retry = next(e.event for e in envs if e.event.type == "JobRetryScheduled")
    assert [s.attempt for s in starts] == [1, 2]
    assert starts[1].occurred_at >= retry.retry_at
    assert sum(isinstance(e.event, JobStarted) for e in envs) == 2  # nothing was started twice


async def test_a_stale_decision_is_refused_and_decided_again(bus: Bus) -> None:
    tenant, wid = uuid.uuid4(), uuid.uuid4()
    await bus.append(WorkflowSubmitted(tenant_id=tenant, workflow_id=wid, spec=spec(1, 2)))
    await bus.append(WorkflowAdmitted(tenant_id=tenant, workflow_id=wid))
    stale = Sequencer(bus, SequencerState(max_workers=2))
    async with bus.feed(start_seq=1) as feed:
        stale.fold.feed = feed
        await stale.fold.catch_up()
        wave = decide(stale.state, Tick(stale.clock()))
        assert [d.job_id for d in wave] == ["b0j0"]
        # another writer starts the job first (a second replica, say)
        await bus.append(JobStarted(tenant_id=tenant, workflow_id=wid, job_id="b0j0", attempt=1))
        assert await stale.fold.append(wave) is False
        assert decide(stale.state, Tick(stale.clock())) == []  # caught up: nothing to start twice
    starts = [e for e in await read_log(bus) if isinstance(e.event, JobStarted)]
    assert len(starts) == 1


async def test_a_cancel_the_sequencer_has_forgotten_is_answered_from_the_read_model(
    bus: Bus, projector: object, gateway: httpx.AsyncClient
) -> None:
    from tessera.admission.domain import AdmissionState
    from tessera.admission.handlers import Admission

    tenant, stranger = str(uuid.uuid4()), str(uuid.uuid4())
    sequencer = Sequencer(bus, SequencerState(max_workers=2, retention=timedelta(0)))
    one_job = {"jobs": [{"id": "a", "type": "synthetic"}]}

    async def submit() -> str:
        answer = await gateway.post("/v1/workflows", json=one_job, headers={"X-User-ID": tenant})
        return str(answer.json()["workflow_id"])

    async with (
        running(Admission(bus, AdmissionState(max_active_tenants=3)).run),
        running(FakeDataPlane(bus, 0.02).run),
        running(sequencer.run),
    ):
        old = await submit()
        await wait_for_log(bus, finished(1))
        await submit()  # its events come after: with no retention the first one is forgotten
        await wait_for_log(bus, finished(2))
        await eventually(
            lambda: gateway.get(f"/v1/workflows/{old}", headers={"X-User-ID": tenant}),
            lambda got: got.json()["state"] == "SUCCEEDED",
            what="the old workflow SUCCEEDED",
            show=lambda got: got.text,
        )

        def cancel(path: str, who: str = tenant) -> Any:
            return gateway.post(f"/v1/workflows/{old}{path}/cancel", headers={"X-User-ID": who})

        whole, job, theirs = await cancel(""), await cancel("/jobs/a"), await cancel("", stranger)
        missing = await cancel("/jobs/nope")
        assert uuid.UUID(old) not in sequencer.state.ended  # answered by the read model
    assert whole.status_code == 409 and whole.json()["error"]["state"] == "SUCCEEDED"
    assert job.status_code == 409 and job.json()["error"]["state"] == "SUCCEEDED"
    assert theirs.status_code == 404 and missing.status_code == 404
