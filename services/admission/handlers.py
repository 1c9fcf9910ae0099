"""Admission's shell: fold the log, decide, append with optimistic concurrency.

One task owns the state. It reads the log in order and decides only once it has folded what it
appended itself, so its state is always a prefix of the log and a restart (its snapshot and the
log after it, or the whole log) ends in the same place. Each decision is appended with
`Nats-Msg-Id` = its deterministic id and `Nats-Expected-Last-Subject-Sequence` = the last sequence
seen on its subject; when another replica got there first the append is refused, and the shell
folds the log further and decides again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import structlog

from tessera import telemetry
from tessera.bus import Bus
from tessera.decider import FoldedLog
from tessera.events import event_types, utcnow
from tessera.snapshots import Snapshots, adopt

from .domain import AdmissionState, Decision, Tick, decide, evolve

log = structlog.get_logger(__name__)

DECISIONS = event_types(Decision)  # the subjects whose last sequence each append expects
POLL_S = 0.5  # how often the loop looks at the stop signal while the log is quiet


class Admission:
    def __init__(
        self,
        bus: Bus,
        state: AdmissionState,
        clock: Callable[[], datetime] = utcnow,
        snapshots: Snapshots | None = None,
    ) -> None:
        self.bus, self.state, self.clock = bus, state, clock
        self.fold = FoldedLog(
            bus,
            lambda event: evolve(self.state, event),
            DECISIONS,
            "admission",
            snapshots,
            lambda: self.state,
        )

    async def run(self, stop: asyncio.Event, on_ready: Callable[[], None] = lambda: None) -> None:
        """Replay the log, then follow it and decide until `stop`."""
        if (saved := await self.fold.restore()) is not None:
            self.state = adopt(saved, self.state, AdmissionState.SETTINGS)
        async with self.bus.feed(start_seq=self.fold.last_seq + 1) as feed:
            self.fold.feed = feed
            await self.fold.catch_up()
            self.fold.replayed()
            log.info("admission_replayed", last_seq=self.fold.last_seq, active=self.state.active)
            on_ready()
            try:
                while not stop.is_set():
                    await self._settle()
                    for env in await feed.batch(max_size=500, timeout=POLL_S):
                        self.fold.apply(env)
            finally:
                await self.fold.save()

    async def _settle(self) -> None:
        while decisions := decide(self.state, Tick(self.clock())):
            await self.fold.append(decisions)
        telemetry.ADMISSION_ACTIVE.set(self.state.active)
        telemetry.ADMISSION_WAITERS.set(len(self.state.line))
