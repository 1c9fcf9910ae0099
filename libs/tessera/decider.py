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

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import structlog

from tessera import telemetry
from tessera.bus import Bus, Envelope, Feed
from tessera.errors import ConcurrencyConflict
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
        with structlog.contextvars.bound_contextvars(**telemetry.ids_of(env.event)):
            self._evolve(env.event)
        self.last_seq = env.seq
        if env.event.type in self._decision_types:
            self.subject_seq[env.subject] = env.seq
        telemetry.EVENTS_APPLIED.labels(consumer=self._consumer).inc()
        if self._following and self._snapshots is not None:
            self._snapshots.observe(self.last_seq, self._capture)

    async def fold_until(self, seq: int) -> None:
        assert self.feed is not None, "open the feed first"
        while self.last_seq < seq:
            env = await self.feed.get(timeout=CATCH_UP_TIMEOUT_S)
            if env is None:  # e.g. the log ends with a message that does not decode
                log.warning("log_catch_up_stalled", at=self.last_seq, wanted=seq)
                return
            self.apply(env)

    async def catch_up(self) -> None:
        """Fold everything the log holds now."""
        await self.fold_until(await self.bus.last_sequence())

    async def append(self, decisions: Sequence[Event]) -> bool:
        """Append in order, then fold up to them; False (caught up) if another appended first."""
        last = 0
        try:
            for decision in decisions:
                subject = subject_for(decision, self.bus.names.ns)
                expected = self.subject_seq.get(subject, 0)
                last = await self.bus.append(decision, expected_last_subject_seq=expected)
                self.subject_seq[subject] = last
        except ConcurrencyConflict as exc:
            log.info("decision_superseded", subject=exc.subject, consumer=self._consumer)
            await self.catch_up()
            return False
        await self.fold_until(last)
        return True


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
