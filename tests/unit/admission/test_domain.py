"""The admission decider: worked examples, then a simulated world checked on every decision.

The reference model is rebuilt from the events only (who is active, the waiting line in order,
each workflow's fate), and every decision is judged against it before it is applied.
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.admission.domain import (
    AdmissionState,
    Status,
    TenantStatus,
    Tick,
    decide,
    evolve,
    react,
    tenant_status,
)
from tessera.events import (
    Event,
    JobRerun,
    TenantActivated,
    TenantDequeued,
    TenantQueued,
    TenantReleased,
    WorkflowAdmitted,
    WorkflowFinished,
    WorkflowQueued,
    WorkflowSubmitted,
    decision_id,
    in_round,
)
from tessera.workflows import WorkflowSpec, WorkflowState

T0 = datetime(2030, 1, 1, tzinfo=UTC)
SPEC = WorkflowSpec.model_validate({"jobs": [{"id": "a", "type": "synthetic"}]})
A, B, C, D = (uuid.UUID(int=i) for i in range(1, 5))


class World:
    """Gateway submissions and sequencer completions around the decider, with a reference model."""

    def __init__(self, max_active: int = 3) -> None:
        self.state = AdmissionState(max_active_tenants=max_active)
        self.max_active = max_active
        self.log: list[Event] = []
        self.reactions: list[tuple[int, list]] = []
        self.ids = iter(uuid.UUID(int=10_000 + i) for i in range(10**6))
        self.owner: dict[UUID, UUID] = {}
        self.fate: dict[UUID, str] = {}  # undecided, queued, granted, admitted, finished
        self.active: set[UUID] = set()
        self.line: list[UUID] = []
        self.joined: dict[UUID, tuple[int, int]] = {}  # tenant -> (position, grants so far)
        self.line_grants = 0
        self.admissions: list[UUID] = []
        self.reopened: dict[UUID, int] = {}  # workflow -> the re-run round that opened it again

    # --- feeding the decider ------------------------------------------------------------------

    def feed(self, event: Event) -> list:
        self.log.append(event)
        self.observe(event)
        evolve(self.state, event)
        decisions = react(self.state, Tick(T0))
        self.reactions.append((len(self.log), decisions))
        for d in decisions:
            self.check(d)
            self.observe(d)
            self.log.append(d)
            assert len(self.active) <= self.max_active
        self.check_quiet()
        return decisions

    def submit(self, tenant: UUID) -> UUID:
        wid = next(self.ids)
        self.feed(WorkflowSubmitted(tenant_id=tenant, workflow_id=wid, spec=SPEC))
        return wid

    def finish(self, wid: UUID, state: WorkflowState = WorkflowState.SUCCEEDED) -> list:
        return self.feed(WorkflowFinished(tenant_id=self.owner[wid], workflow_id=wid, state=state))

    def of(self, tenant: UUID, *fates: str) -> list[UUID]:
        return [w for w, t in self.owner.items() if t == tenant and self.fate[w] in fates]

    def observe(self, e: Event) -> None:
        match e:
            case WorkflowSubmitted():
                self.owner[e.workflow_id], self.fate[e.workflow_id] = e.tenant_id, "undecided"
            case WorkflowQueued():
                self.fate[e.workflow_id] = "queued"
            case WorkflowAdmitted():
                self.fate[e.workflow_id] = "admitted"
                self.admissions.append(e.workflow_id)
            case WorkflowFinished():
                self.fate[e.workflow_id] = "finished"
            case JobRerun() if self.fate[e.workflow_id] == "finished":
                self.fate[e.workflow_id] = "undecided"  # open again: decided anew
                self.reopened[e.workflow_id] = e.round
            case TenantQueued():
                self.line.append(e.tenant_id)
                self.joined[e.tenant_id] = (e.position, self.line_grants)
            case TenantActivated():
                if e.tenant_id in self.line:
                    self.line.remove(e.tenant_id)
                    self.line_grants += 1
                    for w in self.of(e.tenant_id, "queued"):
                        self.fate[w] = "granted"
                self.active.add(e.tenant_id)
            case TenantReleased():
                self.active.discard(e.tenant_id)
            case TenantDequeued():
                self.line.remove(e.tenant_id)

    def check(self, d: Event) -> None:
        """One decision against the reference model, before it is applied."""
        t = d.tenant_id
        assert d.occurred_at == T0
        match d:
            case TenantActivated():
                if t in self.line:  # FIFO: only the head, and only into a free slot
                    assert self.line[0] == t
                    assert len(self.active) < self.max_active
                    position, grants_then = self.joined[t]
                    assert self.line_grants - grants_then <= position - 1, "overtaken in line"
                else:
                    assert t not in self.active and not self.line
                    assert len(self.active) < self.max_active and self.of(t, "undecided")
            case WorkflowAdmitted():
                fate = self.fate[d.workflow_id]
                assert t in self.active and t not in self.line
                assert fate == "granted" or (fate == "undecided" and not self.line), (
                    "a new workflow overtook the waiting tenants"
                )
                round_ = self.reopened.get(d.workflow_id, 0)
                assert d.round == round_
                assert d.event_id == decision_id(
                    "WorkflowAdmitted", d.workflow_id, *in_round(round_)
                )
            case WorkflowQueued():
                assert self.fate[d.workflow_id] == "undecided"
                assert d.position == self.line.index(t) + 1
            case TenantQueued():
                assert t not in self.line and d.position == len(self.line) + 1
                assert self.line or (t not in self.active and len(self.active) == self.max_active)
            case TenantReleased():
                assert t in self.active and not self.of(t, "admitted", "granted")
            case TenantDequeued():
                assert t in self.line and not self.of(t, "queued", "undecided")
            case _:
                raise AssertionError(f"unexpected decision {d!r}")

    def check_quiet(self) -> None:
        assert not [w for w, f in self.fate.items() if f in ("undecided", "granted")]
        if self.line:  # nobody waits while a slot is free
            assert len(self.active) == self.max_active
        for t in self.active:  # active exactly while it has admitted, unfinished work
            assert self.of(t, "admitted")
        for t in self.line:
            assert self.of(t, "queued")
        for t in set(self.owner.values()):
            expected = "ACTIVE" if t in self.active else "WAITING" if t in self.line else "IDLE"
            position = self.line.index(t) + 1 if t in self.line else None
            assert tenant_status(self.state, t) == TenantStatus(
                len(self.active), len(self.line), expected, position
            )

    def redeliver(self, index: int) -> None:
        """A redelivery (the same event again, right after itself) anywhere in history changes
        nothing: the replay with the duplicate ends in the live state."""
        rebuilt = AdmissionState(max_active_tenants=self.max_active)
        for i, e in enumerate(self.log):
            evolve(rebuilt, e)
            if i == index:
                before = copy.deepcopy(rebuilt)
                assert evolve(rebuilt, e) == before
        assert rebuilt == self.state

    def check_replay(self) -> None:
        rebuilt = AdmissionState(max_active_tenants=self.max_active)
        for e in self.log:
            evolve(rebuilt, e)
        assert rebuilt == self.state and decide(rebuilt, Tick(T0)) == []
        for length, decisions in self.reactions[-3:]:  # a crash right after an input
            prefix = AdmissionState(max_active_tenants=self.max_active)
            for e in self.log[:length]:
                evolve(prefix, e)
            assert react(prefix, Tick(T0)) == decisions


# --- worked examples ----------------------------------------------------------------------


def kinds(decisions: list) -> list[tuple[str, UUID]]:
    return [(d.type, d.tenant_id) for d in decisions]


def test_three_tenants_are_active_and_the_fourth_waits_for_a_release() -> None:
    world = World(max_active=3)
    first = {t: world.submit(t) for t in (A, B, C)}
    assert world.state.active == 3
    world.submit(D)
    assert tenant_status(world.state, D) == TenantStatus(3, 1, "WAITING", 1)
    assert kinds(world.finish(first[B])) == [
        ("TenantReleased", B),
        ("TenantActivated", D),
        ("WorkflowAdmitted", D),
    ]
    assert tenant_status(world.state, B) == TenantStatus(3, 0, "IDLE", None)


def test_an_active_tenant_extends_its_slot_only_while_nobody_waits() -> None:
    world = World(max_active=1)
    first = world.submit(A)
    assert kinds(
        world.feed(WorkflowSubmitted(tenant_id=A, workflow_id=next(world.ids), spec=SPEC))
    ) == [("WorkflowAdmitted", A)]
    world.submit(B)  # B waits, so A's next workflow queues behind B
    third = world.submit(A)
    assert world.fate[third] == "queued"
    assert tenant_status(world.state, A) == TenantStatus(1, 2, "ACTIVE", 2)
    world.finish(first)  # A still runs its second workflow: no release yet
    assert world.state.active == 1 and world.line == [B, A]
    second = world.of(A, "admitted")[0]
    assert kinds(world.finish(second)) == [
        ("TenantReleased", A),
        ("TenantActivated", B),
        ("WorkflowAdmitted", B),
    ]
    world.finish(world.of(B, "admitted")[0])
    assert world.fate[third] == "admitted"


def test_a_waiting_tenant_whose_workflows_are_all_cancelled_leaves_the_line() -> None:
    world = World(max_active=1)
    world.submit(A)
    waiting = world.submit(B)
    world.submit(C)
    assert kinds(world.finish(waiting, WorkflowState.CANCELLED)) == [("TenantDequeued", B)]
    assert tenant_status(world.state, C) == TenantStatus(1, 1, "WAITING", 1)


def test_a_finished_workflow_is_forgotten_after_the_retention_in_log_time() -> None:
    world = World(max_active=1)
    world.state.retention = timedelta(hours=1)
    wid = world.submit(A)
    finished = WorkflowFinished(
        tenant_id=A, workflow_id=wid, state=WorkflowState.SUCCEEDED, occurred_at=T0
    )
    evolve(world.state, finished)
    assert world.state.workflows[wid] == (A, Status.FINISHED)
    for minutes, kept in ((59, True), (61, False)):  # any later event moves log time on
        evolve(
            world.state, TenantDequeued(tenant_id=B, occurred_at=T0 + timedelta(minutes=minutes))
        )
        assert (wid in world.state.workflows) is kept and (wid in world.state.finished) is kept
    evolve(world.state, finished)  # a late copy of a forgotten workflow's event changes nothing
    assert wid not in world.state.workflows


def test_a_rerun_opens_a_finished_workflow_again_with_decisions_of_its_own() -> None:
    world = World(max_active=1)
    wid = world.submit(A)
    world.submit(B)  # waits for A's slot
    world.finish(wid, WorkflowState.FAILED)  # A released, B admitted
    rerun = JobRerun(
        tenant_id=A, workflow_id=wid, job_id="a", jobs=["a"], attempts={"a": 1}, round=1, spec=SPEC
    )
    (queued, queued_wf) = world.feed(rerun)  # B holds the slot: A queues again
    assert (queued.type, queued_wf.type, queued_wf.round) == ("TenantQueued", "WorkflowQueued", 1)
    assert queued_wf.event_id == decision_id("WorkflowQueued", wid, "round-1")
    old = WorkflowAdmitted(tenant_id=A, workflow_id=wid)  # round 0's, late: changes nothing
    before = copy.deepcopy(world.state)
    evolve(world.state, old)
    assert world.state == before
    *_, admitted = world.finish(world.of(B, "admitted")[0])
    assert (admitted.type, admitted.round) == ("WorkflowAdmitted", 1)
    assert admitted.event_id == decision_id("WorkflowAdmitted", wid, "round-1")
    after = copy.deepcopy(world.state)
    assert evolve(world.state, rerun) == after  # a repeat changes nothing
    world.check_replay()


def test_decisions_after_a_crash_are_recovered_from_the_log_alone() -> None:
    world = World(max_active=1)
    world.submit(A)
    world.submit(B)
    world.finish(world.of(A, "admitted")[0])
    *_, admitted = world.log  # lose the last decision, then restart from the log
    rebuilt = AdmissionState(max_active_tenants=1)
    for e in world.log[:-1]:
        evolve(rebuilt, e)
    assert react(rebuilt, Tick(T0)) == [admitted]


# --- the simulated world ------------------------------------------------------------------

TENANTS = [uuid.UUID(int=i) for i in range(1, 7)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    max_active=st.integers(1, 3),
    steps=st.lists(
        st.tuples(
            st.sampled_from(("submit", "submit", "finish", "finish", "withdraw", "redeliver")),
            st.integers(0, 10**6),
        ),
        min_size=5,
        max_size=60,
    ),
)
def test_admission_is_bounded_fifo_and_starves_no_one(max_active: int, steps: list) -> None:
    world = World(max_active)
    for action, pick in steps:
        admitted = sorted(w for w, f in world.fate.items() if f == "admitted")
        queued = sorted(w for w, f in world.fate.items() if f == "queued")
        match action:
            case "finish" if admitted:
                world.finish(admitted[pick % len(admitted)])
            case "withdraw" if queued:  # cancelled before admission
                world.finish(queued[pick % len(queued)], WorkflowState.CANCELLED)
            case "redeliver" if world.log:
                world.redeliver(pick % len(world.log))
            case _:
                world.submit(TENANTS[pick % len(TENANTS)])
    while admitted := [w for w, f in world.fate.items() if f == "admitted"]:
        world.finish(admitted[0])  # the sequencer finishes everything eventually
    assert set(world.fate.values()) <= {"finished"}, "a workflow was never admitted"
    assert not world.active and not world.line
    assert len(world.admissions) == len(set(world.admissions))
    world.check_replay()
