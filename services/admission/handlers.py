"""Admission's shell: fold the log, decide, append with optimistic concurrency.

One task owns the state. It reads the log in order and decides only once it has folded what it
appended itself, so its state is always a prefix of the log and a restart (replay from sequence 1)
ends in the same place. Each decision is appended with `Nats-Msg-Id` = its deterministic id and
`Nats-Expected-Last-Subject-Sequence` = the last sequence seen on its subject; when another replica
got there first the append is refused, and the shell folds the log further and decides again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import structlog

from tessera import telemetry
from tessera.bus import Bus, Envelope, EventFeed
from tessera.errors import ConcurrencyConflict
from tessera.events import subject_for, utcnow

from .domain import AdmissionState, Decision, Tick, decide, evolve

log = structlog.get_logger(__name__)

DECISIONS = frozenset(
    {"TenantQueued", "TenantActivated", "TenantReleased", "TenantDequeued", "WorkflowQueued",
     "WorkflowAdmitted"}
)  # fmt: skip
CATCH_UP_TIMEOUT_S = 5.0
POLL_S = 0.5  # how often the loop looks at the stop signal while the log is quiet


class Admission:
    def __init__(
        self, bus: Bus, state: AdmissionState, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.bus, self.state, self.clock = bus, state, clock
        self.last_seq = 0
        self.subject_seq: dict[str, int] = {}  # last sequence seen on each decision subject
        self._feed: EventFeed | None = None

    async def run(self, stop: asyncio.Event, on_ready: Callable[[], None] = lambda: None) -> None:
        """Replay the log, then follow it and decide until `stop`."""
        async with self.bus.feed(start_seq=1) as feed:
            self._feed = feed
            await self._fold_until(await self.bus.last_sequence())
            log.info("admission_replayed", last_seq=self.last_seq, active=self.state.active)
            on_ready()
            while not stop.is_set():
                await self._settle()
                for env in await feed.batch(max_size=500, timeout=POLL_S):
                    self._apply(env)

    async def _settle(self) -> None:
        while decisions := decide(self.state, Tick(self.clock())):
            await self._append(decisions)
        telemetry.ADMISSION_ACTIVE.set(self.state.active)
        telemetry.ADMISSION_WAITERS.set(len(self.state.line))

    def _apply(self, env: Envelope) -> None:
        if env.seq <= self.last_seq:  # already folded
            return
        evolve(self.state, env.event)
        self.last_seq = env.seq
        if env.event.type in DECISIONS:
            self.subject_seq[env.subject] = env.seq
        telemetry.EVENTS_APPLIED.labels(consumer="admission").inc()

    async def _fold_until(self, seq: int) -> None:
        assert self._feed is not None
        while self.last_seq < seq:
            env = await self._feed.get(timeout=CATCH_UP_TIMEOUT_S)
            if env is None:  # e.g. the log ends with a message that does not decode
                log.warning("log_catch_up_stalled", at=self.last_seq, wanted=seq)
                return
            self._apply(env)

    async def _append(self, decisions: list[Decision]) -> None:
        """Append a group in order, then fold up to it (or up to the end after a conflict)."""
        last = 0
        try:
            for decision in decisions:
                subject = subject_for(decision, self.bus.names.ns)
                expected = self.subject_seq.get(subject, 0)
                last = await self.bus.append(decision, expected_last_subject_seq=expected)
                self.subject_seq[subject] = last
        except ConcurrencyConflict as exc:
            log.info("decision_superseded", subject=exc.subject)
            last = await self.bus.last_sequence()
        await self._fold_until(last)
