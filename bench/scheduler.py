"""Scheduling figures for the pure deciders (no bus): dispatch latency and decisions per second.

    .venv/bin/python bench/scheduler.py                          # the figures of issue 3
    .venv/bin/python bench/scheduler.py --sizes 1000,10000,100000,300000

Dispatch latency: a worker slot frees (JobSucceeded arrives) -> the branch-sequencer has applied
it and decided the JobStarted that fills the slot; p50/p99 over every such completion, with 1,000
queued jobs over 200 lanes and 20 tenants. Throughput: decisions per second of decider time in a
steady state (completions arrive, queued jobs start) at several queue sizes; it must stay flat,
because no decision scans the backlog. A few attempts fail and are retried, so the retry timers
and the skip path are part of the figures. Publishing to NATS is not included: a later bench adds
the through-the-bus number.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from tessera.admission import domain as admission
from tessera.branch_sequencer import domain as sequencer
from tessera.events import (
    Event,
    JobAttemptFailed,
    JobStarted,
    JobSucceeded,
    WorkflowAdmitted,
    WorkflowFinished,
    WorkflowSubmitted,
)
from tessera.workflows import WorkflowSpec, WorkflowState

T0 = datetime(2030, 1, 1, tzinfo=UTC)
LANES_PER_WORKFLOW, JOBS_PER_LANE = 5, 5


def workflow_spec() -> WorkflowSpec:
    """5 lanes of 5 jobs; the third job of each lane also waits for the one beside it."""
    jobs = []
    for lane in range(LANES_PER_WORKFLOW):
        for i in range(JOBS_PER_LANE):
            deps = [f"l{lane - 1}j{i}"] if lane and i == 2 else []
            jobs.append(
                {
                    "id": f"l{lane}j{i}",
                    "type": "synthetic",
                    "branch": f"b{lane}",
                    "depends_on": deps,
                    "retries": 1,
                }
            )
    return WorkflowSpec.model_validate({"jobs": jobs})


class Run:
    """A sequencer with `jobs` queued jobs, driven by a simulated data plane."""

    def __init__(self, jobs: int, tenants: int, workers: int, failure_rate: float, seed: int):
        self.state = sequencer.SequencerState(
            max_workers=workers, retry_base=timedelta(milliseconds=20)
        )
        self.rng = random.Random(seed)
        self.failure_rate = failure_rate
        self.now = T0
        self.running: list[JobStarted] = []
        spec = workflow_spec()
        per_workflow = LANES_PER_WORKFLOW * JOBS_PER_LANE
        tenant_ids = [uuid.UUID(int=t + 1) for t in range(tenants)]
        started = time.perf_counter()
        for w in range(max(1, jobs // per_workflow)):
            tenant, wid = tenant_ids[w % tenants], uuid.UUID(int=10**6 + w)
            self.apply(WorkflowSubmitted(tenant_id=tenant, workflow_id=wid, spec=spec))
            self.apply(WorkflowAdmitted(tenant_id=tenant, workflow_id=wid))
        self.setup_s = time.perf_counter() - started
        self.lanes = len(self.state.workflows) * LANES_PER_WORKFLOW
        self.jobs = len(self.state.workflows) * per_workflow

    def apply(self, event: Event) -> list[sequencer.Decision]:
        sequencer.evolve(self.state, event)
        decisions = sequencer.react(self.state, sequencer.Tick(self.now))
        self.running += [d for d in decisions if isinstance(d, JobStarted)]
        return decisions

    def step(self) -> tuple[int, int, bool] | None:
        """One completion (or a timer); returns (ns spent deciding, decisions, dispatched)."""
        self.now += timedelta(milliseconds=1)
        if not self.running:
            due = sequencer.next_timer(self.state)
            if due is None:
                return None
            self.now = max(self.now, due)
            begin = time.perf_counter_ns()
            decisions = sequencer.react(self.state, sequencer.Tick(self.now))
            spent = time.perf_counter_ns() - begin
            self.running += [d for d in decisions if isinstance(d, JobStarted)]
            return spent, len(decisions), False
        i = self.rng.randrange(len(self.running))
        self.running[i], self.running[-1] = self.running[-1], self.running[i]
        job = self.running.pop()
        header = {
            "tenant_id": job.tenant_id,
            "workflow_id": job.workflow_id,
            "job_id": job.job_id,
            "attempt": job.attempt,
            "occurred_at": self.now,
        }
        if self.rng.random() < self.failure_rate:
            event: Event = JobAttemptFailed(**header, reason="simulated")
        else:
            event = JobSucceeded(**header)
        before = len(self.running)
        begin = time.perf_counter_ns()
        decisions = self.apply(event)
        spent = time.perf_counter_ns() - begin
        return spent, len(decisions), len(self.running) > before


def dispatch_latency(args: argparse.Namespace) -> None:
    best: list[float] = []
    for _ in range(args.repeat):
        run = Run(args.jobs, args.tenants, args.workers, args.failure_rate, args.seed)
        samples = []
        while (result := run.step()) is not None:
            spent, _, dispatched = result
            if dispatched:
                samples.append(spent / 1000)
        samples.sort()
        if not best or statistics.median(samples) < statistics.median(best):
            best = samples
    p50, p99 = statistics.median(best), best[min(len(best) - 1, int(len(best) * 0.99))]
    print(
        f"dispatch latency, {run.jobs:,} queued jobs / {run.lanes} lanes / {args.tenants} tenants"
        f" / {args.workers} workers, until all ran:\n"
        f"  p50 {p50:7.1f} µs   p99 {p99:7.1f} µs   max {best[-1]:7.1f} µs"
        f"   ({len(best):,} dispatches)"
    )


def steady_state(size: int, args: argparse.Namespace) -> tuple[int, float, float, float, float]:
    """(jobs, decisions/s, p99 µs per event, setup µs per job, calls per decision) at `size`.

    Calls per decision (Python function calls, counted by cProfile over further completions) is
    the load-independent figure: flat means no decision walks the backlog.
    """
    run = Run(size, args.tenants, args.workers, args.failure_rate, args.seed)
    gc.collect()
    steps = min(args.completions, run.jobs // 4)  # the queue stays within 25% of its size
    spent_ns, decisions, per_event = 0, 0, []
    for _ in range(steps):
        result = run.step()
        if result is None:
            break
        spent_ns += result[0]
        decisions += result[1]
        per_event.append(result[0] / 1000)
    per_event.sort()
    p99 = per_event[int(len(per_event) * 0.99)]
    profiler, counted = cProfile.Profile(), 0
    profiler.enable()
    for _ in range(min(500, run.jobs // 8)):
        if (result := run.step()) is not None:
            counted += result[1]
    profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    calls = getattr(stats, "total_calls", 0) / max(counted, 1)
    return run.jobs, decisions / (spent_ns / 1e9), p99, run.setup_s * 1e6 / run.jobs, calls


def throughput(args: argparse.Namespace) -> None:
    print(
        f"\ndecisions per second by queue size ({args.tenants} tenants, {args.workers} workers,"
        f" {args.failure_rate:.0%} failed attempts), steady state:"
    )
    print(
        f"  {'queued jobs':>12} {'decisions/s':>12} {'µs/decision':>12} {'p99 µs/event':>13}"
        f" {'calls/decision':>15} {'setup µs/job':>13}"
    )
    for size in args.sizes:
        jobs, rate, p99, setup, calls = max(
            (steady_state(size, args) for _ in range(args.repeat)), key=lambda r: r[1]
        )
        print(
            f"  {jobs:>12,} {rate:>12,.0f} {1e6 / rate:>12.1f} {p99:>13.1f} {calls:>15.1f}"
            f" {setup:>13.1f}"
        )
        gc.collect()


def admission_throughput(args: argparse.Namespace) -> None:
    """Slots passing down a long line: each finish releases, activates the head, admits."""
    print("\nadmission: a slot passes to the head of the line (release + activate + admit)")
    print(f"  {'waiting':>12} {'decisions/s':>12} {'µs/handover':>12}")
    for waiting in args.waiting:
        rates = [_handovers(waiting) for _ in range(args.repeat)]
        rate, per_handover = max(rates)
        print(f"  {waiting:>12,} {rate:>12,.0f} {per_handover:>12.1f}")


def _handovers(waiting: int) -> tuple[float, float]:
    spec = WorkflowSpec.model_validate({"jobs": [{"id": "a", "type": "synthetic"}]})
    state = admission.AdmissionState(max_active_tenants=3)
    owner = {}
    for t in range(waiting + 3):
        tenant, wid = uuid.UUID(int=t + 1), uuid.UUID(int=10**6 + t)
        owner[wid] = tenant
        admission.evolve(state, WorkflowSubmitted(tenant_id=tenant, workflow_id=wid, spec=spec))
        admission.react(state, admission.Tick(T0))
    handovers = min(2000, waiting)
    finished = [
        WorkflowFinished(tenant_id=owner[w], workflow_id=w, state=WorkflowState.SUCCEEDED)
        for w in list(owner)[:handovers]
    ]
    decisions, begin = 0, time.perf_counter_ns()
    for event in finished:
        admission.evolve(state, event)
        decisions += len(admission.react(state, admission.Tick(T0)))
    spent = (time.perf_counter_ns() - begin) / 1e9
    return decisions / spent, spent * 1e6 / handovers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="queued jobs for the latency run")
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--workers", type=int, default=32, help="MAX_WORKERS")
    parser.add_argument("--failure-rate", type=float, default=0.02)
    parser.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 10_000, 100_000]
    )
    parser.add_argument(
        "--completions", type=int, default=5000, help="completions measured per queue size"
    )
    parser.add_argument(
        "--waiting", type=lambda s: [int(x) for x in s.split(",")], default=[100, 10_000]
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is shown")
    args = parser.parse_args(argv)
    print(
        f"pure deciders, Python {sys.version.split()[0]}, one thread, no bus;"
        f" best of {args.repeat} runs per figure\n"
    )
    dispatch_latency(args)
    throughput(args)
    admission_throughput(args)


if __name__ == "__main__":
    main()
