"""Snapshots of the log's folds (tessera.snapshots): a restart from one ends in the state a full
replay builds, and a snapshot that does not fit this code or this log is never used."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from tessera import snapshots as snapshots_module
from tessera.admission.domain import AdmissionState
from tessera.admission.handlers import Admission
from tessera.branch_sequencer.domain import SequencerState
from tessera.branch_sequencer.handlers import Sequencer
from tessera.bus import Bus
from tessera.events import WorkflowAdmitted, WorkflowSubmitted
from tessera.snapshots import Snapshots, adopt, fingerprint
from tests.conftest import running
from tests.integration.test_scheduling import FakeDataPlane, finished, spec, wait_for_log

pytestmark = pytest.mark.integration

FINGERPRINT = fingerprint(SequencerState)


@dataclass
class Folded:
    seen: list[int] = field(default_factory=list)


def config(workers: int = 2) -> SequencerState:
    return SequencerState(max_workers=workers, retry_base=timedelta(seconds=0.05))


async def full_replay(bus: Bus, workers: int = 2) -> Sequencer:
    sequencer = Sequencer(bus, config(workers))
    async with bus.feed(start_seq=1) as feed:
        sequencer.fold.feed = feed
        await sequencer.fold.catch_up()
    return sequencer


async def test_a_sequencer_restarted_from_its_snapshot_decides_on_the_state_a_replay_builds(
    bus: Bus,
) -> None:
    def snapshots() -> Snapshots:
        return Snapshots(bus, "branch-sequencer", FINGERPRINT, every=7)

    first = snapshots()
    async with (
        running(Admission(bus, AdmissionState(max_active_tenants=3)).run),
        running(FakeDataPlane(bus, 0.02, {("b0j0", 1)}).run),
    ):
        async with running(Sequencer(bus, config(), snapshots=first).run):
            for _ in range(3):
                await bus.append(
                    WorkflowSubmitted(
                        tenant_id=uuid.uuid4(), workflow_id=uuid.uuid4(), spec=spec(2, 2, 1)
                    )
                )
            await wait_for_log(bus, finished(2))
        assert first.saved_seq > 7  # mid-run ones, then one on the clean stop
        # meanwhile, with no sequencer running, the log goes on
        late = uuid.uuid4()
        await bus.append(
            WorkflowSubmitted(tenant_id=uuid.uuid4(), workflow_id=late, spec=spec(2, 2, 1))
        )
        await wait_for_log(
            bus,
            lambda envs: any(
                e.event.type == "WorkflowAdmitted" and e.event.workflow_id == late for e in envs
            ),
        )
        second = snapshots()
        async with running(Sequencer(bus, config(), snapshots=second).run):
            envs = await wait_for_log(bus, finished(4))
    assert second.loaded_seq == first.saved_seq  # it started from the snapshot, not from 1
    started = [(e.event.workflow_id, e.event.job_id, e.event.attempt)
               for e in envs if e.event.type == "JobStarted"]  # fmt: skip
    assert len(started) == len(set(started))  # nothing was started twice across the restart
    assert {j for w, j, _ in started if w == late} == {"b0j0", "b0j1", "b1j0", "b1j1"}
    assert all(e.event.state == "SUCCEEDED" for e in envs if e.event.type == "WorkflowFinished")

    # the fold from a snapshot and the log's tail equals the fold from sequence 1, field by field
    tenant, wid = uuid.uuid4(), uuid.uuid4()
    await bus.append(WorkflowSubmitted(tenant_id=tenant, workflow_id=wid, spec=spec()))
    await bus.append(WorkflowAdmitted(tenant_id=tenant, workflow_id=wid))
    restored = Sequencer(bus, config(workers=5), snapshots=snapshots())
    saved = await restored.fold.restore()
    assert saved is not None and 0 < restored.fold.last_seq < await bus.last_sequence()
    restored.state = adopt(saved, restored.state, SequencerState.SETTINGS)
    async with bus.feed(start_seq=restored.fold.last_seq + 1) as feed:
        restored.fold.feed = feed
        await restored.fold.catch_up()
    replayed = await full_replay(bus, workers=5)
    assert restored.state.max_workers == 5  # this run's setting, not the snapshot's
    assert restored.state == replayed.state
    assert restored.fold.subject_seq == replayed.fold.subject_seq
    assert restored.fold.last_seq == replayed.fold.last_seq


async def test_a_snapshot_round_trips_and_is_refused_when_it_does_not_fit(bus: Bus) -> None:
    tenant, wid = uuid.uuid4(), uuid.uuid4()
    await bus.append(WorkflowSubmitted(tenant_id=tenant, workflow_id=wid, spec=spec()))
    await bus.append(WorkflowAdmitted(tenant_id=tenant, workflow_id=wid))
    seq = await bus.last_sequence()
    state = Folded(seen=[1, 2, 3])
    writer = Snapshots(bus, "role", "code-a", every=1)
    await writer.save(seq, lambda: (state, {"x": 1}))

    loaded = await Snapshots(bus, "role", "code-a", every=1).load()
    assert loaded is not None
    assert (loaded.state, loaded.last_seq, loaded.extra) == (state, seq, {"x": 1})
    assert await Snapshots(bus, "other-role", "code-a", every=1).load() is None
    assert await Snapshots(bus, "role", "code-b", every=1).load() is None  # other code
    assert await Snapshots(bus, "role", "code-a", every=0).load() is None  # switched off

    await writer.save(seq + 50, lambda: (state, None))  # past the end of the log
    assert await Snapshots(bus, "role", "code-a", every=1).load() is None

    objects = await writer._objects()
    for garbage in (b"not a snapshot", snapshots_module.MAGIC + b"\x00\x00\x00\x02{}broken"):
        await objects.put("role", garbage)
        assert await Snapshots(bus, "role", "code-a", every=1).load() is None

    # a log that was deleted and made again does not inherit the old one's state
    await Snapshots(bus, "role", "code-a", every=1).save(seq + 1, lambda: (state, None))
    await bus.append(WorkflowSubmitted(tenant_id=tenant, workflow_id=uuid.uuid4(), spec=spec()))
    assert await Snapshots(bus, "role", "code-a", every=1).load() is not None
    await bus.js.delete_stream(bus.names.events_stream)
    await bus.ensure_streams()
    for _ in range(4):
        await bus.append(WorkflowSubmitted(tenant_id=tenant, workflow_id=uuid.uuid4(), spec=spec()))
    assert await Snapshots(bus, "role", "code-a", every=1).load() is None


async def test_snapshots_are_taken_every_n_events_one_at_a_time(bus: Bus) -> None:
    snapshots = Snapshots(bus, "role", "code", every=10)
    captured: list[int] = []

    def capture(n: int):  # type: ignore[no-untyped-def]
        return lambda: (captured.append(n) or Folded(seen=[n]), None)

    for seq in range(1, 36):
        await bus.append(WorkflowAdmitted(tenant_id=uuid.uuid4(), workflow_id=uuid.uuid4()))
        snapshots.observe(seq, capture(seq))
        if snapshots._saving is not None:
            await snapshots._saving
    assert captured == [10, 20, 30]
    await snapshots.save(30, capture(30))  # nothing new since the last: not saved again
    await snapshots.save(35, capture(35))
    assert captured == [10, 20, 30, 35]
    loaded = await Snapshots(bus, "role", "code", every=10).load()
    assert loaded is not None and loaded.state == Folded(seen=[35]) and loaded.last_seq == 35
