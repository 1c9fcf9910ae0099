"""Dispatch latency through the bus: job becomes runnable → `JobStarted` appended to the log.

    .venv/bin/python bench/dispatch_bus.py            # 1,000 jobs, 200 lanes, 20 tenants

The real admission and branch-sequencer services run on a real NATS JetStream log (embedded
nats-server, or NATS_URL), with a stand-in data plane that reports every started job as succeeded
after `--job-seconds`. A job becomes runnable when the last of these is in the log: its workflow's
admission, the success of the job before it in its lane, the successes of its dependencies, and,
when all `--workers` slots were busy, the success that freed one. Latency is the log's own time
from that event to the job's `JobStarted` (`occurred_at` stamps from the clocks of the processes
on this machine). `--job-seconds 0 --workers 1000` turns it into a burst: every job of the backlog
becomes runnable within milliseconds and the figure then includes the queue of appends.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import statistics
import time
import uuid
from datetime import UTC, datetime

from tessera.admission.domain import AdmissionState
from tessera.admission.handlers import Admission
from tessera.branch_sequencer.domain import SequencerState
from tessera.branch_sequencer.handlers import Sequencer
from tessera.bus import Bus, JetStreamBus, read_events
from tessera.embedded import nats_from_env_or_embedded
from tessera.events import JobStarted, JobSucceeded, WorkflowSubmitted
from tessera.telemetry import configure_logging
from tessera.workflows import WorkflowSpec


def workflows(jobs: int, lanes: int, tenants: int) -> list[tuple[uuid.UUID, WorkflowSpec]]:
    """`lanes` lanes of jobs/lanes jobs each, two lanes per workflow, spread over tenants."""
    per_lane = jobs // lanes
    out = []
    owners = [uuid.uuid4() for _ in range(tenants)]
    for w in range(lanes // 2):
        spec = WorkflowSpec.model_validate(
            {
                "jobs": [
                    {"id": f"{b}{i}", "type": "synthetic", "branch": b,
                     "depends_on": [f"a{i}"] if b == "b" and i == per_lane - 1 else []}
                    for b in ("a", "b")
                    for i in range(per_lane)
                ]
            }
        )  # fmt: skip
        out.append((owners[w % tenants], spec))
    return out


async def stand_in_data_plane(bus: Bus, stop: asyncio.Event, seconds: float) -> None:
    async def finish(ev: JobStarted) -> None:
        await asyncio.sleep(seconds)
        await bus.append(
            JobSucceeded(tenant_id=ev.tenant_id, workflow_id=ev.workflow_id, job_id=ev.job_id,
                         attempt=ev.attempt)
        )  # fmt: skip

    pending: set[asyncio.Task[None]] = set()
    async with bus.feed(start_seq=1, subject=f"{bus.names.ns}.evt.*.*.JobStarted") as feed:
        while not stop.is_set():
            for env in await feed.batch(timeout=0.2):
                assert isinstance(env.event, JobStarted)
                task = asyncio.create_task(finish(env.event))
                pending.add(task)
                task.add_done_callback(pending.discard)


def latencies(envs: list, workers: int) -> list[float]:
    # when each worker slot became free, oldest first: a start takes the oldest free slot
    free_since = collections.deque([datetime.min.replace(tzinfo=UTC)] * workers)
    specs: dict[uuid.UUID, WorkflowSpec] = {}
    admitted: dict[uuid.UUID, datetime] = {}
    done: dict[tuple[uuid.UUID, str], datetime] = {}
    out = []
    for env in envs:
        ev = env.event
        if isinstance(ev, WorkflowSubmitted):
            specs[ev.workflow_id] = ev.spec
        elif ev.type == "WorkflowAdmitted":
            admitted[ev.workflow_id] = ev.occurred_at
        elif isinstance(ev, JobSucceeded):
            done[(ev.workflow_id, ev.job_id)] = ev.occurred_at
            free_since.append(ev.occurred_at)
        elif isinstance(ev, JobStarted):
            spec = specs[ev.workflow_id]
            lane = spec.lanes()[spec.job(ev.job_id).branch]
            before = lane[: lane.index(ev.job_id)][-1:]
            needs = [*before, *spec.job(ev.job_id).depends_on]
            prerequisites = [admitted[ev.workflow_id], *(done[(ev.workflow_id, j)] for j in needs)]
            ready = max([*prerequisites, free_since.popleft()])
            out.append((ev.occurred_at - ready).total_seconds())
    return out


async def run(url: str, args: argparse.Namespace) -> None:
    bus = await JetStreamBus.connect(url, "bench" + uuid.uuid4().hex[:8])
    await bus.ensure_streams()
    admission = Admission(bus, AdmissionState(max_active_tenants=args.tenants))
    sequencer = Sequencer(bus, SequencerState(max_workers=args.workers))
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(admission.run(stop)),
        asyncio.create_task(sequencer.run(stop)),
        asyncio.create_task(stand_in_data_plane(bus, stop, args.job_seconds)),
    ]
    plan = workflows(args.jobs, args.lanes, args.tenants)
    t0 = time.monotonic()
    for tenant, spec in plan:
        await bus.append(WorkflowSubmitted(tenant_id=tenant, workflow_id=uuid.uuid4(), spec=spec))
    while True:
        envs = [env async for env in read_events(bus)]
        if sum(e.event.type == "WorkflowFinished" for e in envs) == len(plan):
            break
        await asyncio.sleep(0.2)
    wall = time.monotonic() - t0
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    lat = sorted(latencies(envs, args.workers))
    q = statistics.quantiles(lat, n=100)
    print(f"jobs {len(lat)} in {len(plan)} workflows, {args.lanes} lanes, {args.tenants} tenants,"
          f" {args.workers} workers, {args.job_seconds} s per job;"
          f" {len(envs)} events in {wall:.1f} s")  # fmt: skip
    print(f"dispatch latency through the bus: p50 {q[49] * 1e3:.2f} ms, p99 {q[98] * 1e3:.2f} ms,"
          f" max {lat[-1] * 1e3:.2f} ms")  # fmt: skip
    await bus.delete_streams()
    await bus.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--lanes", type=int, default=200)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--workers", type=int, default=32, help="MAX_WORKERS")
    parser.add_argument("--job-seconds", type=float, default=0.05, help="stand-in job duration")
    args = parser.parse_args()
    configure_logging("WARNING")
    with nats_from_env_or_embedded() as url:
        asyncio.run(run(url, args))


if __name__ == "__main__":
    main()
