"""The log as a stateful decider sees it: an in-memory fold plus conditional appends.

A decider (admission, the branch-sequencer) owns its state in one task. It reads the log in order
and decides only once it has folded what it appended itself, so its state is always a prefix of
the log and a restart (its snapshot, then the log after it; or the whole log) ends where the last
run stopped. Each decision is appended with `Nats-Msg-Id` = its deterministic id and
`Nats-Expected-Last-Subject-Sequence` = the last sequence seen on its subject; when another
replica or a stale view got there first the append is refused, the fold catches up, and the
decider decides again. Services that follow the log without deciding (the tiler, the mergers)
keep their fold in a `FollowedLog`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import structlog

from tessera import telemetry
from tessera.bus import Bus, Envelope, Feed
from tessera.errors import BusError, ConcurrencyConflict
from tessera.events import AnyEvent, Event, subject_for
from tessera.snapshots import Snapshots

log = structlog.get_logger(__name__)

S = TypeVar("S")
R = TypeVar("R")

CATCH_UP_TIMEOUT_S = 5.0


class FoldedLog:
    """Folds envelopes into a decider's state once each and appends its decisions safely."""

    def __init__(
        self,
        bus: Bus,
        evolve: Callable[[AnyEvent], object],
        decision_types: frozenset[str],
        consumer: str,
        snapshots: Snapshots | None = None,
        state: Callable[[], object] = lambda: None,
        in_flight: int = 1,
    ) -> None:
        self.bus = bus
        self._evolve = evolve
        self._decision_types = decision_types
        self._consumer = consumer
        self._snapshots = snapshots
        self._state = state  # what a snapshot saves, with `subject_seq`
        self.last_seq = 0
        self.subject_seq: dict[str, int] = {}  # last sequence seen on each decision subject
        self.feed: Feed | None = None
        self._following = False  # past the start-up fold: snapshots are taken as events come
        self.in_flight = in_flight  # appends on the wire at once (see `append`)
        self._landed = 0  # the highest sequence one of this decider's appends got
        self._applied = telemetry.EVENTS_APPLIED.labels(consumer=consumer)

    async def restore(self) -> Any:
        """Load the newest valid snapshot: returns its state for the caller to adopt, or None.

        Open the feed afterwards, at `last_seq + 1`.
        """
        if self._snapshots is None or (restored := await self._snapshots.load()) is None:
            return None
        self.last_seq = restored.last_seq
        self.subject_seq = dict(restored.extra)
        return restored.state

    async def save(self) -> None:
        """Snapshot what is folded now (a clean stop), so the next start reads only the tail."""
        if self._snapshots is not None:
            await self._snapshots.save(self.last_seq, self._capture)

    def replayed(self) -> None:
        """The start-up fold is done: snapshot it if it was long, then every `every` events.

        (Not during the fold itself: intermediate states of a replay are not worth pickling.)
        """
        self._following = True
        if self._snapshots is not None:
            self._snapshots.observe(self.last_seq, self._capture)

    def _capture(self) -> tuple[object, object]:
        return self._state(), self.subject_seq

    def apply(self, env: Envelope) -> None:
        if env.seq <= self.last_seq:  # already folded
            return
        self._evolve(env.event)  # pure: it logs nothing, so no ids to bind around it
        self.last_seq = env.seq
        if env.event.type in self._decision_types:
            self.subject_seq[env.subject] = env.seq
        self._applied.inc()
        if self._following and self._snapshots is not None:
            self._snapshots.observe(self.last_seq, self._capture)

    async def fold_until(self, seq: int) -> None:
        """Fold at least up to `seq` (and whatever else the feed holds by then)."""
        assert self.feed is not None, "open the feed first"
        while self.last_seq < seq:
            envs = await self.feed.batch(max_size=1000, timeout=CATCH_UP_TIMEOUT_S)
            if not envs:  # e.g. the log ends with a message that does not decode
                log.warning("log_catch_up_stalled", at=self.last_seq, wanted=seq)
                return
            for env in envs:
                self.apply(env)

    async def catch_up(self) -> None:
        """Fold everything the log holds now."""
        await self.fold_until(await self.bus.last_sequence())

    async def append(self, decisions: Sequence[Event]) -> bool:
        """Append a wave of decisions, then fold the log up to them.

        True when every decision landed. False when one was refused because another replica, or
        a state that was behind, got to its subject first: the log is then folded to its end and
        the caller decides again. A failure to send (`BusError`) is raised once whatever did land
        is folded. Either way the state comes from the log, never from the intended decisions.

        With `in_flight` 1 the decisions go one after the other and the first refusal stops the
        rest, as a decider needs whose waves are ordered (admission's `TenantQueued` comes before
        the `WorkflowQueued` that waits in the line with it). Above 1, for a decider whose waves
        are independent (any subset of a wave, folded in any order, leaves a state from which
        deciding again is right: the branch-sequencer's), up to `in_flight` appends are on the
        wire at once: each subject's decisions go in order, each expecting the sequence its
        predecessor got, and a refusal stops only the rest of its own subject. A failed send
        (a timeout: NATS is in trouble) stops every send not made yet, so that a leader that
        loses its lease in an outage does not go on appending a long wave after it.
        """
        if self._landed > self.last_seq:  # a wave that failed part-way: it is not folded yet
            await self.catch_up()
            return False  # these decisions were made without it
        ns = self.bus.names.ns
        chains: dict[str, list[Event]] = {}
        for decision in decisions:
            chains.setdefault(subject_for(decision, ns) if self.in_flight > 1 else "", []).append(
                decision
            )
        slots = asyncio.Semaphore(self.in_flight)
        landed: list[int] = []
        lost: list[BusError] = []  # a send failed: send nothing more of this wave

        async def send(chain: list[Event]) -> None:
            expected: dict[str, int] = {}
            for decision in chain:
                subject = subject_for(decision, ns)
                after = expected.get(subject, self.subject_seq.get(subject, 0))
                async with slots:
                    if lost:
                        return
                    try:
                        seq = await self.bus.append(decision, expected_last_subject_seq=after)
                    except ConcurrencyConflict:
                        raise
                    except BusError as exc:
                        lost.append(exc)
                        raise
                expected[subject] = seq
                landed.append(seq)

        outcomes = await asyncio.gather(*(send(c) for c in chains.values()), return_exceptions=True)
        self._landed = max(self._landed, *landed, 0)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if not failures:
            await self.fold_until(self._landed)
            return True
        for failure in failures:
            if isinstance(failure, ConcurrencyConflict):
                log.info("decision_superseded", subject=failure.subject, consumer=self._consumer)
            elif not isinstance(failure, BusError):
                raise failure
        sent = next((f for f in failures if not isinstance(f, ConcurrencyConflict)), None)
        if sent is None:
            await self.catch_up()  # what landed, and what the others appended
            return False
        with contextlib.suppress(Exception):  # a log that does not answer: the next append folds
            await self.catch_up()  # what landed, a timed-out append that did after all
        raise sent


async def replay(
    feed: Feed,
    end: int,
    evolve: Callable[[AnyEvent], object],
    *,
    patience: float = 5.0,
    start: int = 0,
) -> int:
    """Fold the log up to sequence `end` (read on start); returns the last sequence folded.

    `start` is the sequence already folded (a snapshot's); the feed begins after it. Gives up
    after `patience` seconds without an event (a subject-filtered feed, or a log whose tail does
    not decode, can end before `end`).
    """
    seq, waited = start, 0.0
    while seq < end and waited < patience:
        batch = await feed.batch(max_size=1000, timeout=0.5)
        waited = 0.0 if batch else waited + 0.5
        for env in batch:
            evolve(env.event)
            seq = env.seq
    return seq


class FollowedLog(Generic[S, R]):
    """The fold of a service that follows the log without deciding (the tiler, the mergers).

    On start: the snapshot if one is valid, then `replay` up to the end of the log read then;
    afterwards `apply` each event as it comes and `observe` after each batch (snapshots every
    `every` events), and `save` on a clean stop.
    """

    def __init__(self, state: S, evolve: Callable[[S, AnyEvent], R], snapshots: Snapshots) -> None:
        self.state = state
        self.last_seq = 0
        self._evolve = evolve
        self.snapshots = snapshots

    async def restore(self) -> int:
        """Adopt the snapshot if one is valid; returns the sequence to open the feed at."""
        restored = await self.snapshots.load()
        if restored is not None:
            self.state, self.last_seq = restored.state, restored.last_seq
        return self.last_seq + 1

    async def replay(self, feed: Feed, end: int, *, patience: float) -> None:
        self.last_seq = await replay(
            feed,
            end,
            lambda event: self._evolve(self.state, event),
            patience=patience,
            start=self.last_seq,
        )

    def apply(self, env: Envelope) -> R:
        reaction = self._evolve(self.state, env.event)
        self.last_seq = env.seq
        return reaction

    def observe(self) -> None:
        self.snapshots.observe(self.last_seq, self._capture)

    async def save(self) -> None:
        await self.snapshots.save(self.last_seq, self._capture)

    def _capture(self) -> tuple[object, object]:
        return self.state, None
