"""Admission as a pure decider: at most `max_active_tenants` tenants hold a slot, others wait FIFO.

A tenant is *active* from its activation until every workflow admitted to it has finished (all its
jobs terminal); then its slot passes to the head of the waiting line. While anyone waits, an
active tenant's new workflows do not extend its slot: the tenant joins the tail of the line with
them (it stays active for what it already runs) and they are admitted when its turn comes.

The line moves only when a slot is free: the head is then granted (TenantActivated). A head that
is still active from an earlier grant takes no slot, so the walk goes on to the next one; an
inactive head takes the slot. Hence: the line is never non-empty while a slot is free.

`evolve(state, event)` applies the log's events, its own decisions included (an event delivered
twice in a row changes nothing). `decide(state, Tick(now))` returns the next small group of
decisions that the state calls for; `react` repeats decide → evolve until nothing is left.
Decisions derive from the state, not from the triggering event, so a replay plus one `react`
recovers whatever a crash lost. Decision ids are deterministic (`decision_id`): replicas that
agree are deduplicated by JetStream.

Each decision group costs O(1), or O(log w) where it needs a place in a line of w tenants.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar, Literal, TypeAlias
from uuid import UUID

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

from .line import Line

__all__ = [
    "AdmissionState",
    "Decision",
    "TenantStatus",
    "Tick",
    "decide",
    "evolve",
    "react",
    "tenant_status",
]

Decision: TypeAlias = (
    TenantQueued
    | TenantActivated
    | TenantReleased
    | TenantDequeued
    | WorkflowQueued
    | WorkflowAdmitted
)


@dataclass(frozen=True)
class Tick:
    """Decide what the state calls for; `now` stamps the decisions."""

    now: datetime


class Status(StrEnum):
    UNDECIDED = "UNDECIDED"  # submitted, neither queued nor admitted yet
    QUEUED = "QUEUED"
    GRANTED = "GRANTED"  # its tenant's turn came: WorkflowAdmitted is due
    ADMITTED = "ADMITTED"
    FINISHED = "FINISHED"


@dataclass
class Tenant:
    active: bool = False
    ticket: int | None = None  # place in the line while waiting (smaller: earlier)
    undecided: set[UUID] = field(default_factory=set)
    queued: OrderedDict[UUID, None] = field(default_factory=OrderedDict)  # waiting for its turn
    admitted: set[UUID] = field(default_factory=set)  # admitted and not finished
    entries: int = 0  # TenantQueued so far: numbers this tenant's decisions for `decision_id`
    grants: int = 0
    releases: int = 0


@dataclass
class AdmissionState:
    # a snapshot is valid for this version and shape only (tessera.snapshots.fingerprint): bump
    # it when what the fold means changes; tests/unit/test_snapshot_shapes.py holds the shape
    SCHEMA_VERSION: ClassVar[int] = 2  # 2: re-run rounds
    SETTINGS: ClassVar[tuple[str, ...]] = ("max_active_tenants", "retention")  # not folded

    max_active_tenants: int = 3
    retention: timedelta = timedelta(days=7)  # how long a finished workflow is remembered
    tenants: dict[UUID, Tenant] = field(default_factory=dict)
    workflows: dict[UUID, tuple[UUID, Status]] = field(default_factory=dict)
    active: int = 0
    line: Line = field(default_factory=Line)
    undecided: OrderedDict[UUID, None] = field(default_factory=OrderedDict)  # submission order
    granted: OrderedDict[UUID, None] = field(default_factory=OrderedDict)
    idle: OrderedDict[UUID, None] = field(default_factory=OrderedDict)  # active, nothing admitted
    emptied: OrderedDict[UUID, None] = field(default_factory=OrderedDict)  # waiting for nothing
    finished: OrderedDict[UUID, datetime] = field(default_factory=OrderedDict)  # in finish order
    # workflows a re-run opened again after they finished: the round that did (their decisions
    # carry it, so they are new decisions, and those of before are told apart)
    rounds: dict[UUID, int] = field(default_factory=dict)

    def position(self, tenant_id: UUID) -> int | None:
        ticket = self.tenants[tenant_id].ticket
        return None if ticket is None else self.line.position(ticket)


@dataclass(frozen=True)
class TenantStatus:
    """What the API shows a tenant: the admission picture and its own place in it."""

    active_tenants: int
    waiting_tenants: int
    state: Literal["ACTIVE", "WAITING", "IDLE"]
    position: int | None  # 1-based place in the line, also for an active tenant's new workflows


def tenant_status(state: AdmissionState, tenant_id: UUID) -> TenantStatus:
    tenant = state.tenants.get(tenant_id, Tenant())
    position = state.position(tenant_id) if tenant_id in state.tenants else None
    kind: Literal["ACTIVE", "WAITING", "IDLE"] = (
        "ACTIVE" if tenant.active else "WAITING" if position is not None else "IDLE"
    )
    return TenantStatus(state.active, len(state.line), kind, position)


def decide(state: AdmissionState, command: Tick) -> list[Decision]:
    """The next group of decisions the state calls for (empty when there is nothing to do)."""
    now = command.now
    if state.granted:  # finish a grant: admit what its tenant queued
        wid = next(iter(state.granted))
        return [_admitted(state, wid, state.workflows[wid][0], now)]
    if state.undecided:
        wid = next(iter(state.undecided))
        tenant_id = state.workflows[wid][0]
        tenant = state.tenants[tenant_id]
        if tenant.ticket is not None:
            return [_queued(state, wid, tenant_id, state.line.position(tenant.ticket), now)]
        if not state.line and tenant.active:  # nobody waits: extend the tenant's slot
            return [_admitted(state, wid, tenant_id, now)]
        if not state.line and state.active < state.max_active_tenants:
            return [_activated(tenant_id, tenant, now)]
        return [  # anti-starvation: behind everyone already waiting
            TenantQueued(
                event_id=decision_id("TenantQueued", tenant_id, tenant.entries + 1),
                occurred_at=now,
                tenant_id=tenant_id,
                position=len(state.line) + 1,
            ),
            _queued(state, wid, tenant_id, len(state.line) + 1, now),
        ]
    if state.emptied:
        tenant_id = next(iter(state.emptied))
        return [
            TenantDequeued(
                event_id=decision_id("TenantDequeued", tenant_id, state.tenants[tenant_id].entries),
                occurred_at=now,
                tenant_id=tenant_id,
            )
        ]
    if state.idle:
        tenant_id = next(iter(state.idle))
        tenant = state.tenants[tenant_id]
        return [
            TenantReleased(
                event_id=decision_id("TenantReleased", tenant_id, tenant.releases + 1),
                occurred_at=now,
                tenant_id=tenant_id,
            )
        ]
    head = state.line.head()
    if head is not None and state.active < state.max_active_tenants:
        return [_activated(head, state.tenants[head], now)]
    return []


def evolve(state: AdmissionState, event: Event) -> AdmissionState:
    """Apply one event of the log to `state` (in place) and return it."""
    _forget_finished(state, event.occurred_at)
    match event:
        case WorkflowSubmitted():
            if event.workflow_id not in state.workflows:
                _undecided(state, event.workflow_id, event.tenant_id)
        case JobRerun():  # a finished (or forgotten) workflow has work again: decide it anew
            wid, known = event.workflow_id, state.workflows.get(event.workflow_id)
            reopens = known is None or (
                known == (event.tenant_id, Status.FINISHED)
                and event.round > state.rounds.get(wid, 0)
            )
            if reopens:  # a re-run in a workflow that has not finished changes nothing here
                state.rounds[wid] = event.round
                state.finished.pop(wid, None)
                _undecided(state, wid, event.tenant_id)
        case WorkflowQueued():
            if _status(state, event) is Status.UNDECIDED:
                _withdraw(state, event.workflow_id, event.tenant_id)
                _set(state, event.workflow_id, Status.QUEUED)
                state.tenants[event.tenant_id].queued[event.workflow_id] = None
        case WorkflowAdmitted():
            status = _status(state, event)
            if status in (Status.UNDECIDED, Status.QUEUED, Status.GRANTED):
                _withdraw(state, event.workflow_id, event.tenant_id)
                _set(state, event.workflow_id, Status.ADMITTED)
                state.tenants[event.tenant_id].admitted.add(event.workflow_id)
        case WorkflowFinished():
            status = _status(state, event)
            if status is Status.ADMITTED:
                state.tenants[event.tenant_id].admitted.discard(event.workflow_id)
            elif status is not None and status is not Status.FINISHED:
                _withdraw(state, event.workflow_id, event.tenant_id)
            if status is not None and status is not Status.FINISHED:
                _set(state, event.workflow_id, Status.FINISHED)
                state.finished[event.workflow_id] = event.occurred_at
        case TenantQueued():
            tenant = state.tenants.setdefault(event.tenant_id, Tenant())
            if tenant.ticket is None:
                tenant.ticket = state.line.join(event.tenant_id)
                tenant.entries += 1
        case TenantActivated():
            tenant = state.tenants.setdefault(event.tenant_id, Tenant())
            if tenant.ticket is not None or not tenant.active:
                _leave_line(state, tenant)
                for wid in tenant.queued:
                    _set(state, wid, Status.GRANTED)
                    state.granted[wid] = None
                tenant.queued.clear()
                state.active += not tenant.active
                tenant.active, tenant.grants = True, tenant.grants + 1
        case TenantReleased():
            tenant = state.tenants.setdefault(event.tenant_id, Tenant())
            if tenant.active:
                tenant.active, tenant.releases = False, tenant.releases + 1
                state.active -= 1
        case TenantDequeued():
            tenant = state.tenants.setdefault(event.tenant_id, Tenant())
            if not tenant.queued:
                _leave_line(state, tenant)
        case _:
            return state
    if event.tenant_id in state.tenants:
        _reindex(state, event.tenant_id)
    return state


def react(state: AdmissionState, command: Tick) -> list[Decision]:
    """Decide and evolve until nothing is left to decide; every decision, in log order.

    For tests, benchmarks and replay recovery. A service that reads its own decisions back from
    the log must not also apply them here: it publishes `decide`'s group, folds the log up to it,
    and decides again, so that its state is always a prefix of the log.
    """
    out: list[Decision] = []
    while decisions := decide(state, command):
        for decision in decisions:
            evolve(state, decision)
        out += decisions
    return out


# --- internals ----------------------------------------------------------------------------


def _forget_finished(state: AdmissionState, now: datetime) -> None:
    """Drop the workflows that finished more than `retention` before `now` (log time)."""
    while state.finished:
        workflow_id, at = next(iter(state.finished.items()))
        if at > now - state.retention:
            return
        del state.finished[workflow_id], state.workflows[workflow_id]
        state.rounds.pop(workflow_id, None)


def _undecided(state: AdmissionState, workflow_id: UUID, tenant_id: UUID) -> None:
    state.tenants.setdefault(tenant_id, Tenant()).undecided.add(workflow_id)
    state.workflows[workflow_id] = (tenant_id, Status.UNDECIDED)
    state.undecided[workflow_id] = None


def _status(
    state: AdmissionState, event: WorkflowQueued | WorkflowAdmitted | WorkflowFinished
) -> Status | None:
    """The workflow's status, or None if unknown, not this tenant's or about a time before it
    was last opened again by a re-run (such events are ignored)."""
    entry = state.workflows.get(event.workflow_id)
    if entry is None or entry[0] != event.tenant_id:
        return None
    opened = state.rounds.get(event.workflow_id, 0)
    if event.round < opened or (event.round != opened and event.type != "WorkflowFinished"):
        return None  # a WorkflowFinished counts the sequencer's rounds, opened or not
    return entry[1]


def _set(state: AdmissionState, workflow_id: UUID, status: Status) -> None:
    state.workflows[workflow_id] = (state.workflows[workflow_id][0], status)


def _withdraw(state: AdmissionState, workflow_id: UUID, tenant_id: UUID) -> None:
    """Forget a workflow that was waiting in any way (undecided, queued or granted)."""
    tenant = state.tenants[tenant_id]
    state.undecided.pop(workflow_id, None)
    state.granted.pop(workflow_id, None)
    tenant.undecided.discard(workflow_id)
    tenant.queued.pop(workflow_id, None)


def _leave_line(state: AdmissionState, tenant: Tenant) -> None:
    if tenant.ticket is not None:
        state.line.leave(tenant.ticket)
        tenant.ticket = None


def _reindex(state: AdmissionState, tenant_id: UUID) -> None:
    """Keep the O(1) work lists `idle` and `emptied` in step with one tenant's record.

    `idle` may hold a tenant whose grant is being completed: `decide` admits granted workflows
    before it looks at `idle`, so such a tenant is never released."""
    tenant = state.tenants[tenant_id]
    if tenant.active and not tenant.admitted:
        state.idle[tenant_id] = None
    else:
        state.idle.pop(tenant_id, None)
    if tenant.ticket is not None and not tenant.queued and not tenant.undecided:
        state.emptied[tenant_id] = None
    else:
        state.emptied.pop(tenant_id, None)


def _admitted(
    state: AdmissionState, workflow_id: UUID, tenant_id: UUID, now: datetime
) -> WorkflowAdmitted:
    round_ = state.rounds.get(workflow_id, 0)
    return WorkflowAdmitted(
        event_id=decision_id("WorkflowAdmitted", workflow_id, *in_round(round_)),
        occurred_at=now,
        tenant_id=tenant_id,
        workflow_id=workflow_id,
        round=round_,
    )


def _queued(
    state: AdmissionState, workflow_id: UUID, tenant_id: UUID, position: int, now: datetime
) -> WorkflowQueued:
    round_ = state.rounds.get(workflow_id, 0)
    return WorkflowQueued(
        event_id=decision_id("WorkflowQueued", workflow_id, *in_round(round_)),
        occurred_at=now,
        tenant_id=tenant_id,
        workflow_id=workflow_id,
        position=position,
        round=round_,
    )


def _activated(tenant_id: UUID, tenant: Tenant, now: datetime) -> TenantActivated:
    return TenantActivated(
        event_id=decision_id("TenantActivated", tenant_id, tenant.grants + 1),
        occurred_at=now,
        tenant_id=tenant_id,
    )
