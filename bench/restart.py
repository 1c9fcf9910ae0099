"""Restart time of the deciders: the whole log folded from sequence 1 vs a snapshot + the tail.

    .venv/bin/python bench/restart.py                        # 20,000 workflows, ~560k events
    .venv/bin/python bench/restart.py --workflows 2000       # quicker

A log as a long-lived deployment accumulates it is made by the real admission and branch-sequencer
domains (in process; several tenants, 3 active at a time, 5-job workflows over two lanes, a few
failed attempts retried, progress reported three times per job) and published in order to a real
JetStream stream (embedded nats-server, or NATS_URL). Then, for the branch-sequencer and for
admission, side by side in one run:

- **full replay**: a fresh service folds the whole log (what every start did before snapshots);
- **snapshot**: the save a running service makes every TESSERA_SNAPSHOT_EVERY events (pickling
  in the service's task, compressing and uploading in the background), and a fresh service that
  loads it and folds only the log's tail (`--tail` events appended after it).

Both folds must end in equal states (checked). Figures: seconds, events per second, snapshot
size, and the restart speed-up.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tessera.admission import domain as admission
from tessera.admission.handlers import Admission
from tessera.branch_sequencer import domain as sequencer
from tessera.branch_sequencer.handlers import Sequencer
from tessera.bus import Bus
from tessera.embedded import nats_from_env_or_embedded
from tessera.events import (
    Event,
    JobAttemptFailed,
    JobProgressed,
    JobStarted,
    JobSucceeded,
    WorkflowFinished,
    WorkflowSubmitted,
    encode_event,
    subject_for,
)
from tessera.snapshots import Snapshots, adopt, fingerprint
from tessera.telemetry import configure_logging
from tessera.workflows import WorkflowSpec

T0 = datetime(2030, 1, 1, tzinfo=UTC)
SPEC = WorkflowSpec.model_validate(
    {
        "jobs": [
            {"id": "mask", "type": "synthetic", "retries": 1},
            {"id": "cells", "type": "synthetic", "depends_on": ["mask"], "retries": 1},
            {"id": "qc", "type": "synthetic", "depends_on": ["cells"], "retries": 1},
            {"id": "side", "type": "synthetic", "branch": "side", "retries": 1},
            {"id": "side2", "type": "synthetic", "branch": "side", "retries": 1},
        ]
    }
)


def make_log(workflows: int, tenants: int, workers: int, seed: int) -> list[Event]:
    """The events the services would have written for `workflows` workflows, in log order."""
    rng = random.Random(seed)
    adm = admission.AdmissionState(max_active_tenants=3)
    seq = sequencer.SequencerState(max_workers=workers, retry_base=timedelta(seconds=1))
    out: list[Event] = []
    running: list[JobStarted] = []
    now = T0

    finished = 0

    def emit(event: Event) -> None:
        nonlocal finished
        finished += isinstance(event, WorkflowFinished)
        out.append(event)
        admission.evolve(adm, event)
        sequencer.evolve(seq, event)
        if isinstance(event, JobStarted):
            running.append(event)

    def settle() -> None:
        while True:
            decisions: list[Any] = [*admission.decide(adm, admission.Tick(now))]
            for d in decisions:
                emit(d)
            started = sequencer.decide(seq, sequencer.Tick(now))
            for d in started:
                emit(d)
            if not decisions and not started:
                return

    owners = [uuid.uuid4() for _ in range(tenants)]
    submitted = 0
    while submitted < workflows or running or sequencer.next_timer(seq):
        now += timedelta(milliseconds=50)
        if submitted < workflows and submitted - finished < 4 * tenants:
            emit(
                WorkflowSubmitted(
                    tenant_id=rng.choice(owners),
                    workflow_id=uuid.uuid4(),
                    spec=SPEC,
                    occurred_at=now,
                )
            )
            submitted += 1
        settle()
        if not running:
            due = sequencer.next_timer(seq)
            if due is not None:
                now = max(now, due)
            continue
        job = running.pop(rng.randrange(len(running)))
        header = {
            "tenant_id": job.tenant_id,
            "workflow_id": job.workflow_id,
            "job_id": job.job_id,
            "attempt": job.attempt,
            "occurred_at": now,
        }
        for done in (10, 20, 30):
            emit(JobProgressed(**header, tiles_done=done, tiles_total=40))
        if rng.random() < 0.02:
            emit(JobAttemptFailed(**header, reason="simulated"))
        else:
            emit(JobSucceeded(**header))
        settle()
    return out


Builder = Callable[[Bus, Snapshots | None], Sequencer | Admission]
ROLES: dict[str, Callable[[argparse.Namespace], tuple[Builder, tuple[str, ...], str]]] = {
    "branch-sequencer": lambda args: (
        lambda bus, s: Sequencer(
            bus, sequencer.SequencerState(max_workers=args.workers), snapshots=s
        ),
        sequencer.SequencerState.SETTINGS,
        fingerprint(sequencer.SequencerState),
    ),
    "admission": lambda args: (
        lambda bus, s: Admission(bus, admission.AdmissionState(max_active_tenants=3), snapshots=s),
        admission.AdmissionState.SETTINGS,
        fingerprint(admission.AdmissionState),
    ),
}


async def publish(bus: Bus, events: list[Event]) -> None:
    """In order, pipelined (core publishes on one connection keep their order), then wait."""
    target = await bus.last_sequence() + len(events)
    for i, event in enumerate(events):
        await bus.nc.publish(subject_for(event, bus.names.ns), encode_event(event))
        if i % 1000 == 999:
            await bus.nc.flush()
    await bus.nc.flush()
    while await bus.last_sequence() < target:  # noqa: ASYNC110 - the server's state, not ours
        await asyncio.sleep(0.1)


async def timed(fn: Callable[[], Any]) -> float:
    begin = time.perf_counter()
    await fn()
    return time.perf_counter() - begin


async def bench_role(
    bus: Bus,
    role: str,
    build: Builder,
    settings: tuple[str, ...],
    code: str,
    tail: list[Event],
) -> None:
    # full replay from 1
    full = build(bus, None)

    async def fold_from_one() -> None:
        async with bus.feed(start_seq=1) as feed:
            full.fold.feed = feed
            await full.fold.catch_up()

    replay_s = await timed(fold_from_one)
    events = full.fold.last_seq

    # the save a running service makes (pickling in its task, the rest in the background)
    snapshots = Snapshots(bus, role, code, every=1)
    begin = time.perf_counter()
    snapshots.observe(full.fold.last_seq, lambda: (full.state, full.fold.subject_seq))
    pickle_s = time.perf_counter() - begin
    assert snapshots._saving is not None
    await snapshots._saving
    save_s = time.perf_counter() - begin
    size = len((await (await snapshots._objects()).get(role)).data or b"")

    # the tail, then a restart from the snapshot
    await publish(bus, tail)
    restarted = build(bus, Snapshots(bus, role, code, every=1 << 40))  # loads, saves nothing

    async def restore() -> None:
        saved = await restarted.fold.restore()
        assert saved is not None, "the snapshot was not used"
        restarted.state = adopt(saved, restarted.state, settings)
        async with bus.feed(start_seq=restarted.fold.last_seq + 1) as feed:
            restarted.fold.feed = feed
            await restarted.fold.catch_up()

    restore_s = await timed(restore)

    async def fold_all() -> None:
        async with bus.feed(start_seq=full.fold.last_seq + 1) as feed:
            full.fold.feed = feed
            await full.fold.catch_up()

    await fold_all()
    assert restarted.state == full.state, f"{role}: snapshot + tail differs from a full replay"
    assert restarted.fold.subject_seq == full.fold.subject_seq
    print(
        f"{role:>17}: full replay {events:,} events {replay_s:6.2f} s ({events / replay_s:,.0f}/s)"
        f" | snapshot {size / 1e6:5.1f} MB, pickled in {pickle_s * 1e3:4.0f} ms (in the task),"
        f" saved in {save_s:5.2f} s | restart = load + {len(tail):,} tail events {restore_s:5.2f} s"
        f" | {replay_s / restore_s:5.1f}x faster"
    )


async def run(url: str, args: argparse.Namespace) -> None:
    begin = time.perf_counter()
    events = make_log(args.workflows + args.tail_workflows, args.tenants, args.workers, args.seed)
    submissions = [i for i, e in enumerate(events) if isinstance(e, WorkflowSubmitted)]
    cut = submissions[args.workflows]  # the tail starts with the first workflow after the cut
    head, tail = events[:cut], events[cut:]
    print(
        f"log: {len(events):,} events ({len(head):,} before the snapshot, {len(tail):,} after),"
        f" {args.workflows + args.tail_workflows:,} workflows of 5 jobs, {args.tenants} tenants,"
        f" made in {time.perf_counter() - begin:.1f} s"
    )
    for role in ROLES:
        bus = await Bus.connect(url, "bench" + uuid.uuid4().hex[:8])
        await bus.ensure_streams()
        try:
            begin = time.perf_counter()
            await publish(bus, head)
            print(f"{role}: published {len(head):,} events in {time.perf_counter() - begin:.1f} s")
            await bench_role(bus, role, *ROLES[role](args), tail)
        finally:
            await bus.delete_streams()
            await bus.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=20_000, help="before the snapshot")
    parser.add_argument("--tail-workflows", type=int, default=50, help="after the snapshot")
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--workers", type=int, default=16, help="MAX_WORKERS")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    configure_logging("WARNING")
    with nats_from_env_or_embedded() as url:
        asyncio.run(run(url, args))


if __name__ == "__main__":
    main()
