"""Dispatch latency and sequencer throughput through the bus, serial appends vs pipelined.

    .venv/bin/python bench/dispatch_bus.py                     # steady, burst, throughput; 3 rounds
    .venv/bin/python bench/dispatch_bus.py --scenarios burst --rounds 1 --in-flight 256
    .venv/bin/python bench/dispatch_bus.py --nats-cluster --in-flight 256   # R1 vs R3

The real admission and branch-sequencer services run on a real NATS JetStream log (embedded
nats-server, or NATS_URL), with a stand-in data plane that reports every started job as succeeded
after its job time. Each scenario runs once per `--in-flight` setting of the sequencer (1: every
decision appended and read back before the next, as before; 256: a wave's decisions pipelined),
side by side in every round, each in a namespace of its own; the medians over the rounds are
printed at the end.

`--nats-cluster` runs on an embedded 3-node JetStream cluster instead, each scenario once with R1
streams and once with R3 (`--replicas`), side by side in every round: what replicating the log
costs dispatch.

- **steady**: 1,000 jobs over 200 lanes and 20 tenants, `MAX_WORKERS` 32, 50 ms jobs.
- **burst**: the same jobs, 1,000 workers, jobs finish at once: the whole backlog becomes runnable
  within milliseconds and the figure includes the queue of appends.
- **throughput**: `--queued` jobs (10,000) already submitted and admitted in the log when the
  sequencer starts, 1,000 workers, jobs finish at once; events the sequencer folds per second
  (its own decisions and the stand-in's successes) from its start to the last workflow finished.

Dispatch latency is the log's own time from the event that made a job runnable to its
`JobStarted`: its workflow's admission, the success of the job before it in its lane, the
successes of its dependencies, and, when all worker slots were busy, the success that freed one
(`occurred_at` stamps from the clocks of the processes on this machine).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import multiprocessing
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tessera.admission.domain import AdmissionState
from tessera.admission.handlers import Admission
from tessera.branch_sequencer.domain import SequencerState
from tessera.branch_sequencer.handlers import Sequencer
from tessera.bus import Bus, Envelope, JetStreamBus, read_events
from tessera.embedded import nats_cluster, nats_from_env_or_embedded
from tessera.events import JobStarted, JobSucceeded, WorkflowAdmitted, WorkflowSubmitted
from tessera.telemetry import configure_logging
from tessera.workflows import WorkflowSpec

SCENARIOS = {  # workers, seconds per job
    "steady": (32, 0.05),
    "burst": (1000, 0.0),
    "throughput": (1000, 0.0),
}


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


def data_plane_process(url: str, ns: str, seconds: float) -> None:
    """The stand-in in a process of its own, so that this one's CPU time is the deciders'."""

    async def serve() -> None:
        bus = await JetStreamBus.connect(url, ns)
        await stand_in_data_plane(bus, asyncio.Event(), seconds)  # until terminated

    configure_logging("WARNING")
    asyncio.run(serve())


def latencies(envs: list[Envelope], workers: int) -> list[float]:
    lanes: dict[uuid.UUID, dict[str, list[str]]] = {}
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
            if ev.workflow_id not in lanes:
                lanes[ev.workflow_id] = spec.lanes()
            lane = lanes[ev.workflow_id][spec.job(ev.job_id).branch]
            before = lane[: lane.index(ev.job_id)][-1:]
            needs = [*before, *spec.job(ev.job_id).depends_on]
            prerequisites = [admitted[ev.workflow_id], *(done[(ev.workflow_id, j)] for j in needs)]
            ready = max([*prerequisites, free_since.popleft()])
            out.append((ev.occurred_at - ready).total_seconds())
    return out


@dataclass
class Figures:
    p50_ms: float
    p99_ms: float
    events_per_s: float
    events: int
    wall_s: float
    cpu_s: float  # of this process: the deciders (the stand-in data plane runs in another)

    @property
    def cpu_us_per_event(self) -> float:
        return self.cpu_s / self.events * 1e6

    def __str__(self) -> str:
        return (
            f"p50 {self.p50_ms:6.1f} ms  p99 {self.p99_ms:6.1f} ms  {self.events_per_s:7,.0f} "
            f"events/s ({self.events:,} in {self.wall_s:.2f} s, {self.cpu_us_per_event:.0f} µs "
            "CPU each)"
        )


async def append_all(bus: Bus, events: list[WorkflowSubmitted | WorkflowAdmitted]) -> None:
    for i in range(0, len(events), 500):
        await asyncio.gather(*(bus.append(e) for e in events[i : i + 500]))


async def run(
    url: str, args: argparse.Namespace, scenario: str, in_flight: int, replicas: int = 1
) -> Figures:
    bus = await JetStreamBus.connect(url, "bench" + uuid.uuid4().hex[:8], replicas=replicas)
    await bus.ensure_streams()
    workers, job_seconds = SCENARIOS[scenario]
    backlog = scenario == "throughput"
    plan = workflows(args.queued if backlog else args.jobs, args.lanes, args.tenants)
    submitted = [WorkflowSubmitted(tenant_id=t, workflow_id=uuid.uuid4(), spec=s) for t, s in plan]
    if backlog:  # the whole backlog in the log, admitted, before the sequencer starts
        admitted = [WorkflowAdmitted(tenant_id=e.tenant_id, workflow_id=e.workflow_id)
                    for e in submitted]  # fmt: skip
        await append_all(bus, [*submitted, *admitted])
    data_plane = multiprocessing.get_context("spawn").Process(
        target=data_plane_process, args=(url, bus.names.ns, job_seconds), daemon=True
    )
    data_plane.start()
    sequencer = Sequencer(bus, SequencerState(max_workers=workers), in_flight=in_flight)
    stop, ready = asyncio.Event(), asyncio.Event()
    tasks = [asyncio.create_task(sequencer.run(stop, ready.set))]
    if not backlog:
        admission = Admission(bus, AdmissionState(max_active_tenants=args.tenants))
        tasks.append(asyncio.create_task(admission.run(stop)))
    await ready.wait()
    async with bus.feed(subject=f"{bus.names.ns}.evt.*.*.WorkflowFinished") as finished:
        t0, cpu0, seq0 = time.monotonic(), time.process_time(), sequencer.fold.last_seq
        if not backlog:
            await append_all(bus, submitted)
        for _ in plan:
            await finished.get()
        wall, folded = time.monotonic() - t0, sequencer.fold.last_seq - seq0
        cpu = time.process_time() - cpu0
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    data_plane.terminate()
    data_plane.join()
    lat = sorted(latencies([env async for env in read_events(bus)], workers))
    q = statistics.quantiles(lat, n=100)
    await bus.delete_streams()
    await bus.close()
    return Figures(q[49] * 1e3, q[98] * 1e3, folded / wall, folded, wall, cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="steady,burst,throughput")
    parser.add_argument("--in-flight", default="1,256", help="sequencer settings side by side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1000, help="steady and burst")
    parser.add_argument("--queued", type=int, default=10_000, help="throughput: the backlog")
    parser.add_argument("--lanes", type=int, default=200)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument(
        "--nats-cluster", action="store_true", help="an embedded 3-node JetStream cluster"
    )
    parser.add_argument("--replicas", default="1,3", help="with --nats-cluster: side by side")
    args = parser.parse_args()
    scenarios = args.scenarios.split(",")
    settings = [int(n) for n in args.in_flight.split(",")]
    replica_counts = [int(n) for n in args.replicas.split(",")] if args.nats_cluster else [1]
    configure_logging("WARNING")
    results: dict[tuple[str, int, int], list[Figures]] = collections.defaultdict(list)
    with contextlib.ExitStack() as stack:
        if args.nats_cluster:
            state = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-nats-")))
            url = stack.enter_context(nats_cluster(state, size=3)).url
        else:
            url = stack.enter_context(nats_from_env_or_embedded())
        for r in range(args.rounds):
            for scenario in scenarios:
                for in_flight in settings:
                    for replicas in replica_counts:
                        f = asyncio.run(run(url, args, scenario, in_flight, replicas))
                        results[(scenario, in_flight, replicas)].append(f)
                        print(
                            f"round {r + 1} {scenario:10} in flight {in_flight:3} R{replicas}: {f}",
                            flush=True,
                        )
    where = "a 3-node cluster" if args.nats_cluster else "one server"
    print(f"\nmedians of {args.rounds} rounds on {where} (workers, seconds per job: {SCENARIOS})")
    print("| scenario | in flight | replicas | dispatch p50 | p99 | events/s | CPU µs/event |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for (scenario, in_flight, replicas), runs in results.items():
        p50, p99, rate, cpu = (
            statistics.median(getattr(f, k) for f in runs)
            for k in ("p50_ms", "p99_ms", "events_per_s", "cpu_us_per_event")
        )
        print(
            f"| {scenario} | {in_flight} | R{replicas} | {p50:.1f} ms | {p99:.1f} ms | {rate:,.0f} "
            f"| {cpu:.0f} |"
        )


if __name__ == "__main__":
    main()
