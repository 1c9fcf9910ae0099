"""Scale: 10x today's load, on this machine as far as it goes and as a simulation beyond.

    .venv/bin/python bench/scale.py                       # both parts (~5 min on 2 loaded cores)
    .venv/bin/python bench/scale.py --part machine --replicas 1,2,4
    .venv/bin/python bench/scale.py --part simulation --sim-replicas 1,4,16,64,256,1024

**machine**: every scheduling and data-plane service as its own process (`tessera serve`:
admission, branch-sequencer, tiler, merger and 1 -> 2 -> 4 inference replicas) on one NATS
(embedded, or NATS_URL), with synthetic jobs whose tiles cost a fixed time each. Per replica
count a fresh batch of workflows from `--tenants` tenants is submitted (the replicas of the
step before keep running and new ones join); printed: tiles/s and its ratio to linear (the
replicas times one replica's ceiling, 1 / tile time), dispatch p50/p99 (as bench/dispatch_bus.py
measures it, from the log), the deepest ready queue and admission line the deciders reported on
their /metrics (scraped every 0.5 s), the deepest TILES queue (batches in the stream, as the
NATS exporter's `jetstream_consumer_num_pending` shows it; the tiler's window bounds it), and the
deciders' resident memory. Admission, the sequencer and the tiler run `--standbys` extra
replicas each; after the steps every leader is killed with SIGKILL at once and the time until
each standby leads (its `tessera_leader` gauge) is printed, then a batch of workflows runs on the
standbys. Then the sequencer's restart: a fresh one loads the newest snapshot the service saved
(every `--snapshot-every` events) and folds the log after it, against a fold of the whole log.

**simulation**: the real admission and branch-sequencer domains (no bus) under `--workflows`
workflows (5,000) of `--tenants` tenants (200), two lanes of two jobs each, every job `--tiles`
tiles at `--tile-seconds` each; replicas serve the running jobs' tiles in turn (processor
sharing, as the tiler's window does). Simulated time; printed per replica count: tiles/s and the
ratio to linear, the log events the deciders must fold and decide per simulated second, the share
of one core that is for the sequencer at the CPU cost per event measured through the bus
(`--sequencer-us`, from bench/dispatch_bus.py), the deepest ready queue and admission line, and
the deciders' memory at the start (every workflow queued, tracemalloc). Then the restart of the
sequencer from a pickled snapshot plus a tail of the log, against folding the whole log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pickle
import signal
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench.` when run as a file

from bench.dispatch_bus import latencies
from tessera.admission import domain as admission
from tessera.branch_sequencer import domain as sequencer
from tessera.branch_sequencer.handlers import Sequencer
from tessera.bus import Envelope, JetStreamBus, read_events
from tessera.embedded import nats_from_env_or_embedded
from tessera.events import (
    Event,
    JobPlanned,
    JobProgressed,
    JobStarted,
    JobSucceeded,
    WorkflowFinished,
    WorkflowSubmitted,
)
from tessera.snapshots import Snapshots, fingerprint
from tessera.telemetry import configure_logging
from tessera.workflows import WorkflowSpec

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def workflow(tiles: int, seconds: float) -> WorkflowSpec:
    """Two lanes of two synthetic jobs; the second job of lane b also waits for lane a's first."""
    params = {"tiles": tiles, "seconds_per_tile": seconds}
    return WorkflowSpec.model_validate(
        {
            "jobs": [
                {"id": f"{b}{i}", "type": "synthetic", "branch": b, "params": params,
                 "depends_on": ["a0"] if (b, i) == ("b", 1) else []}
                for b in ("a", "b")
                for i in range(2)
            ]
        }
    )  # fmt: skip


def quantile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] if values else 0.0


# --- on this machine ----------------------------------------------------------------------


LEASED = ("admission", "branch-sequencer", "tiler")  # one leads, the standbys wait (tessera.lease)


@dataclass
class Stack:
    url: str
    namespace: str
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def start(self, service: str) -> str:
        """Start one more process of `service`, named `<service>-<n>`."""
        name = f"{service}-{sum(n.rsplit('-', 1)[0] == service for n in self.procs)}"
        port = 19100 + len(self.ports)
        self.ports[name] = port
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "tessera.cli", "serve", service],
            env={**self.env, "TESSERA_OPS_PORT": str(port)},
            stdout=subprocess.DEVNULL,
        )
        return name

    def replicas(self, service: str) -> list[str]:
        """The live processes of `service`."""
        return [
            name
            for name, proc in self.procs.items()
            if name.rsplit("-", 1)[0] == service and proc.poll() is None
        ]

    def rss_mb(self, name: str) -> float:
        for line in Path(f"/proc/{self.procs[name].pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    async def sample(
        self, client: httpx.AsyncClient, name: str, metric: str, labels: dict[str, str]
    ) -> float | None:
        """One sample of a process's /metrics (None when it has none or does not answer)."""
        with contextlib.suppress(httpx.HTTPError):
            text = (await client.get(f"http://127.0.0.1:{self.ports[name]}/metrics")).text
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == metric and sample.labels == labels:
                        return float(sample.value)
        return None

    async def leader(self, client: httpx.AsyncClient, role: str) -> str | None:
        """The live process whose `tessera_leader{role}` gauge says it leads."""
        for name in self.replicas(role):
            if await self.sample(client, name, "tessera_leader", {"role": role}) == 1:
                return name
        return None

    async def gauges(self, client: httpx.AsyncClient) -> dict[str, float]:
        """The ready queue and the admission line as the deciders report them (the leaders:
        a standby reports neither)."""
        out: dict[str, float] = {}
        for service, metric, labels in (
            ("branch-sequencer", "tessera_queue_depth", {"scope": "ready"}),
            ("admission", "tessera_admission_waiters", {}),
        ):
            for name in self.replicas(service):
                value = await self.sample(client, name, metric, labels)
                if value is not None:
                    out[metric] = max(out.get(metric, 0.0), value)
        return out

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def stack(args: argparse.Namespace) -> Iterator[Stack]:
    with nats_from_env_or_embedded() as url:
        namespace = f"scale{uuid.uuid4().hex[:8]}"
        env = {
            **os.environ,
            "NATS_URL": url,
            "TESSERA_NAMESPACE": namespace,
            "TESSERA_LOG_LEVEL": "WARNING",
            "MAX_WORKERS": str(args.workers),
            "MAX_ACTIVE_TENANTS": str(args.active),
            "TESSERA_TILER_WINDOW": str(2 * max(args.replicas)),
            "TESSERA_SNAPSHOT_EVERY": str(args.snapshot_every),
            "TESSERA_LEASE_TTL_S": str(args.lease_ttl),
        }
        running = Stack(url, namespace, env)
        try:
            for service in ("admission", "branch-sequencer", "tiler", "merger"):
                for _ in range(1 + args.standbys if service in LEASED else 1):
                    running.start(service)
            yield running
        finally:
            running.stop()
            asyncio.run(_delete_streams(url, namespace))


async def _delete_streams(url: str, namespace: str) -> None:
    bus = await JetStreamBus.connect(url, namespace, name="bench-cleanup")
    await bus.delete_streams()
    await bus.close()


@dataclass
class Step:
    replicas: int
    tiles: int
    seconds: float
    p50_ms: float
    p99_ms: float
    ready: float
    waiting: float
    tiles_queue: float
    rss: dict[str, float]


async def machine_step(running: Stack, args: argparse.Namespace, replicas: int) -> Step:
    bus = await JetStreamBus.connect(running.url, running.namespace, name="bench")
    await bus.ensure_streams()
    start = await bus.last_sequence() + 1
    spec = workflow(args.machine_tiles, args.tile_seconds)
    tenants = [uuid.uuid4() for _ in range(args.tenants)]
    plan = [(tenants[w % len(tenants)], uuid.uuid4()) for w in range(args.machine_workflows)]
    peaks = {"tessera_queue_depth": 0.0, "tessera_admission_waiters": 0.0, "tiles": 0.0}
    async with (
        httpx.AsyncClient(timeout=2) as client,
        bus.feed(start_seq=start, subject=f"{bus.names.ns}.evt.*.*.WorkflowFinished") as done,
    ):
        t0 = time.monotonic()
        for tenant, wid in plan:
            await bus.append(WorkflowSubmitted(tenant_id=tenant, workflow_id=wid, spec=spec))
        finished = 0
        while finished < len(plan):
            finished += len(await done.batch(max_size=1000, timeout=0.5))
            for metric, value in (await running.gauges(client)).items():
                peaks[metric] = max(peaks[metric], value)
            in_tiles = await bus.in_flight(bus.names.tiles_stream, bus.names.tiles())
            peaks["tiles"] = max(peaks["tiles"], sum(in_tiles.values()))
            assert time.monotonic() - t0 < 3600, "the step did not finish within an hour"
        roles = ("branch-sequencer", "admission")
        leaders = {role: await running.leader(client, role) for role in roles}
    envs = [env async for env in read_events(bus)]
    await bus.close()
    mine = {wid for _, wid in plan}
    step = [e for e in envs if e.seq >= start]
    first = min(e.event.occurred_at for e in step if isinstance(e.event, JobStarted))
    last = max(e.event.occurred_at for e in step if isinstance(e.event, WorkflowFinished))
    lat = latencies([e for e in envs if _workflow_of(e) in mine], args.workers)
    return Step(
        replicas,
        len(plan) * 4 * args.machine_tiles,
        (last - first).total_seconds(),
        quantile(lat, 0.5) * 1e3,
        quantile(lat, 0.99) * 1e3,
        peaks["tessera_queue_depth"],
        peaks["tessera_admission_waiters"],
        peaks["tiles"],
        {role: running.rss_mb(name) if name else 0.0 for role, name in leaders.items()},
    )


def _workflow_of(env: Envelope) -> uuid.UUID | None:
    return getattr(env.event, "workflow_id", None)


async def restart(url: str, namespace: str, workers: int) -> tuple[float, int, float, int]:
    """(seconds from the snapshot, tail events, seconds of a full replay, events)."""
    bus = await JetStreamBus.connect(url, namespace, name="bench-restart")
    code = fingerprint(sequencer.SequencerState)

    async def fold(snapshots: Snapshots | None) -> tuple[float, int]:
        fresh = Sequencer(bus, sequencer.SequencerState(max_workers=workers), snapshots=snapshots)
        began = time.perf_counter()
        saved = await fresh.fold.restore()
        if saved is not None:
            fresh.state = saved
        since = fresh.fold.last_seq
        async with bus.feed(start_seq=since + 1) as feed:
            fresh.fold.feed = feed
            await fresh.fold.catch_up()
        return time.perf_counter() - began, fresh.fold.last_seq - since

    from_snapshot = await fold(Snapshots(bus, "branch-sequencer", code, every=1 << 40))
    full = await fold(None)
    await bus.close()
    return from_snapshot[0], from_snapshot[1], full[0], full[1]


async def failover(running: Stack) -> dict[str, float]:
    """SIGKILL every lease holder's leader at once; seconds until each role's standby leads."""
    async with httpx.AsyncClient(timeout=2) as client:
        leaders = {role: await running.leader(client, role) for role in LEASED}
        assert all(leaders.values()), f"a role without a leader: {leaders}"
        killed = time.monotonic()
        for name in leaders.values():
            running.procs[str(name)].kill()
        for name in leaders.values():
            running.procs[str(name)].wait()
        took: dict[str, float] = {}
        while len(took) < len(LEASED):
            for role in LEASED:
                if role not in took and await running.leader(client, role) is not None:
                    took[role] = time.monotonic() - killed
            assert time.monotonic() - killed < 300, f"no standby took over: {took}"
            await asyncio.sleep(0.05)
    return took


def row(label: str, s: Step, args: argparse.Namespace) -> str:
    rate = s.tiles / s.seconds
    linear = s.replicas / args.tile_seconds
    return (
        f"| {label} | {rate:,.0f} | {rate / linear:.2f} | {s.p50_ms:.0f} / {s.p99_ms:.0f} ms |"
        f" {s.ready:.0f} | {s.waiting:.0f} | {s.tiles_queue:.0f} |"
        f" {s.rss['branch-sequencer']:.0f} / {s.rss['admission']:.0f} MB |"
    )


def machine(args: argparse.Namespace) -> None:
    print(
        f"on this machine: {args.machine_workflows} workflows of {args.tenants} tenants per step,"
        f" 4 jobs x {args.machine_tiles} tiles x {args.tile_seconds * 1e3:g} ms, MAX_WORKERS"
        f" {args.workers}, {args.active} active tenants; one replica's ceiling"
        f" {1 / args.tile_seconds:g} tiles/s; {args.standbys} standby of admission, sequencer"
        f" and tiler each (lease TTL {args.lease_ttl:g} s)"
    )
    print("| replicas | tiles/s | ratio to linear | dispatch p50 / p99 | deepest ready queue |"
          " admission line | deepest TILES queue | sequencer / admission RSS |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    with stack(args) as running:
        for replicas in args.replicas:
            while len(running.replicas("inference")) < replicas:
                running.start("inference")
            step = asyncio.run(machine_step(running, args, replicas))
            print(row(str(replicas), step, args), flush=True)
        if args.standbys:
            took = asyncio.run(failover(running))
            step = asyncio.run(machine_step(running, args, max(args.replicas)))
            print(row(f"{max(args.replicas)}, on the standbys", step, args), flush=True)
            print(
                "failover (every leader killed with SIGKILL at once): the standby leads after "
                + ", ".join(f"{role} {seconds:.1f} s" for role, seconds in took.items())
            )
        snap_s, tail, full_s, events = asyncio.run(
            restart(running.url, running.namespace, args.workers)
        )
    print(
        f"sequencer restart: snapshot + {tail:,} tail events {snap_s:.2f} s;"
        f" the whole log ({events:,} events) {full_s:.2f} s"
    )


# --- the simulation -----------------------------------------------------------------------


class Simulation:
    """Both deciders on one in-memory log; replicas share the running jobs' tiles."""

    def __init__(self, args: argparse.Namespace, replicas: int) -> None:
        self.args, self.replicas = args, replicas
        self.admission = admission.AdmissionState(max_active_tenants=args.active)
        self.sequencer = sequencer.SequencerState(max_workers=args.workers)
        self.log: list[Event] = []
        self.now = T0
        self.remaining: dict[tuple[uuid.UUID, str], float] = {}  # running job -> tiles to do
        self.started: dict[tuple[uuid.UUID, str], JobStarted] = {}
        self.progress_every = max(1, args.tiles // 4)  # JobProgressed: a few per job
        self.decide_s = 0.0
        self.ready_peak = self.waiting_peak = 0
        self.memory_kb = 0.0

    def append(self, *events: Event) -> None:
        """Fold into both deciders and decide until neither has anything left (as the services)."""
        pending = list(events)
        while pending:
            self.log += pending
            began = time.perf_counter()
            for event in pending:
                admission.evolve(self.admission, event)
                sequencer.evolve(self.sequencer, event)
            pending = [
                *admission.decide(self.admission, admission.Tick(self.now)),
                *sequencer.decide(self.sequencer, sequencer.Tick(self.now)),
            ]
            self.decide_s += time.perf_counter() - began
            for d in pending:
                if isinstance(d, JobStarted):
                    self.remaining[(d.workflow_id, d.job_id)] = float(self.args.tiles)
                    self.started[(d.workflow_id, d.job_id)] = d
        ready = sum(len(queue.ready) for queue in self.sequencer.busy.values())
        self.ready_peak = max(self.ready_peak, ready)
        self.waiting_peak = max(self.waiting_peak, len(self.admission.line))

    def run(self) -> float:
        spec = workflow(self.args.tiles, self.args.tile_seconds)
        tenants = [uuid.UUID(int=t + 1) for t in range(self.args.tenants)]
        tracemalloc.start()
        for w in range(self.args.workflows):
            tenant, wid = tenants[w % len(tenants)], uuid.UUID(int=10**6 + w)
            self.append(WorkflowSubmitted(tenant_id=tenant, workflow_id=wid, spec=spec))
        self.memory_kb = tracemalloc.get_traced_memory()[0] / 1024
        tracemalloc.stop()
        rate = self.replicas / self.args.tile_seconds  # tiles/s of the whole pool
        while self.remaining:
            share = rate / len(self.remaining)  # each running job's tiles/s
            key = min(self.remaining, key=self.remaining.__getitem__)
            dt = self.remaining[key] / share
            self.now += timedelta(seconds=dt)
            for other in self.remaining:
                self.remaining[other] -= dt * share
            del self.remaining[key]
            job = self.started.pop(key)
            ids = {
                "tenant_id": job.tenant_id,
                "workflow_id": job.workflow_id,
                "job_id": job.job_id,
                "attempt": job.attempt,
                "occurred_at": self.now,
            }
            progress = [
                JobProgressed(**ids, tiles_done=n, tiles_total=self.args.tiles)
                for n in range(self.progress_every, self.args.tiles, self.progress_every)
            ]
            self.append(
                JobPlanned(**ids, tiles_total=self.args.tiles), *progress, JobSucceeded(**ids)
            )
        return (self.now - T0).total_seconds()


def simulation(args: argparse.Namespace) -> None:
    tiles = args.workflows * 4 * args.tiles
    print(
        f"\nsimulation: {args.workflows:,} workflows of {args.tenants} tenants, 4 jobs x"
        f" {args.tiles} tiles x {args.tile_seconds * 1e3:g} ms ({tiles:,} tiles), MAX_WORKERS"
        f" {args.workers}, {args.active} active tenants; sequencer {args.sequencer_us:g} µs per"
        " event through the bus"
    )
    print("| replicas | tiles/s | ratio to linear | log events/s | sequencer core share |"
          " deepest ready queue | admission line | deciders' memory |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    sim = None
    for replicas in args.sim_replicas:
        sim = Simulation(args, replicas)
        seconds = sim.run()
        finished = sum(isinstance(e, WorkflowFinished) for e in sim.log)
        assert finished == args.workflows, f"{finished} of {args.workflows} workflows finished"
        rate, events = tiles / seconds, len(sim.log) / seconds
        print(
            f"| {replicas} | {rate:,.0f} | {rate / (replicas / args.tile_seconds):.3f} |"
            f" {events:,.0f} | {events * args.sequencer_us / 1e6:.0%} | {sim.ready_peak:,} |"
            f" {sim.waiting_peak} | {sim.memory_kb / 1024:.1f} MB |",
            flush=True,
        )
    assert sim is not None
    log, tail = sim.log, min(args.tail, len(sim.log) // 2)
    state = sequencer.SequencerState(max_workers=args.workers)
    for event in log[:-tail]:
        sequencer.evolve(state, event)
    snapshot = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    began = time.perf_counter()
    restored = pickle.loads(snapshot)
    for event in log[-tail:]:
        sequencer.evolve(restored, event)
    from_snapshot = time.perf_counter() - began
    began = time.perf_counter()
    full = sequencer.SequencerState(max_workers=args.workers)
    for event in log:
        sequencer.evolve(full, event)
    full_s = time.perf_counter() - began
    assert full == restored, "snapshot + tail differs from the whole log"
    print(
        f"sequencer restart (in memory, no bus): snapshot {len(snapshot) / 1e6:.1f} MB + {tail:,}"
        f" tail events {from_snapshot:.2f} s; the whole log ({len(log):,} events) {full_s:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("machine", "simulation", "both"), default="both")
    parser.add_argument("--replicas", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 2, 4])  # fmt: skip
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--active", type=int, default=3, help="MAX_ACTIVE_TENANTS")
    parser.add_argument("--workers", type=int, default=32, help="MAX_WORKERS")
    parser.add_argument("--tile-seconds", type=float, default=0.02, help="fixed cost per tile")
    parser.add_argument("--machine-workflows", type=int, default=200, help="per replica count")
    parser.add_argument("--machine-tiles", type=int, default=5, help="tiles per job (machine)")
    parser.add_argument("--snapshot-every", type=int, default=2000)
    parser.add_argument("--standbys", type=int, default=1, help="of each lease holder (machine)")
    parser.add_argument("--lease-ttl", type=float, default=10.0, help="TESSERA_LEASE_TTL_S")
    parser.add_argument("--workflows", type=int, default=5000, help="simulation")
    parser.add_argument("--tiles", type=int, default=100, help="tiles per job (simulation)")
    parser.add_argument("--sim-replicas", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 2, 4, 16, 64, 256])  # fmt: skip
    parser.add_argument("--sequencer-us", type=float, default=72.0,
                        help="sequencer CPU µs per event (bench/dispatch_bus.py)")  # fmt: skip
    parser.add_argument("--tail", type=int, default=10_000, help="events after the snapshot")
    args = parser.parse_args()
    configure_logging("WARNING")
    if args.part in ("machine", "both"):
        machine(args)
    if args.part in ("simulation", "both"):
        simulation(args)


if __name__ == "__main__":
    main()
