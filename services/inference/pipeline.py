"""Which batches a worker holds, at which stage, and what it may do next (pure).

A worker fetches batches from TILES, reads their pixels, runs the model on one batch at a time
and finishes (post-processes, publishes, answers) the batches past the model on its
post-processing threads. `Pipeline` is the window over those stages:

- it fetches while fewer than `prefetch` batches wait for the model (being read included);
- the model takes the oldest waiting batch once it has been read (or failed to be), so batches
  start in the order they were fetched;
- a batch starts only when the model is free and at most `post` batches are past the model and
  unfinished: with `post` = 0 each batch is finished before the next starts;
- stopping, it fetches and starts nothing more and gives back the batches not started.

So a worker holds at most `prefetch` + 1 + `post` batches. The shell (`handlers.py`) reports
what happened (`fetched`, `prepared`, `started`, `forwarded`, `finished`) and asks what next
(`fetch_room`, `next_batch`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

B = TypeVar("B", bound=Hashable)


@dataclass
class Pipeline(Generic[B]):
    prefetch: int
    post: int
    waiting: deque[B] = field(default_factory=deque)  # fetched, not started, in fetch order
    ready: set[B] = field(default_factory=set)  # of those, the ones read (or failed to be)
    on_model: B | None = None
    finishing: set[B] = field(default_factory=set)  # past the model, not finished
    stopping: bool = False

    @property
    def in_hand(self) -> int:
        return len(self.waiting) + (self.on_model is not None) + len(self.finishing)

    @property
    def idle(self) -> bool:
        """Nothing in hand."""
        return self.in_hand == 0

    def fetch_room(self) -> int:
        """How many batches may be fetched now."""
        return 0 if self.stopping else max(0, self.prefetch - len(self.waiting))

    def next_batch(self) -> B | None:
        """The batch the model may take now, if any."""
        if self.stopping or self.on_model is not None or len(self.finishing) > self.post:
            return None
        if self.waiting and self.waiting[0] in self.ready:
            return self.waiting[0]
        return None

    def fetched(self, batch: B) -> None:
        self.waiting.append(batch)

    def prepared(self, batch: B) -> None:
        if batch in self.waiting:  # (not given back meanwhile)
            self.ready.add(batch)

    def started(self, batch: B) -> None:
        if batch != self.next_batch():
            raise ValueError("only the batch `next_batch` names may start")
        self.waiting.popleft()
        self.ready.discard(batch)
        self.on_model = batch

    def forwarded(self, batch: B) -> None:
        """The batch no longer needs the model (its forward is done, or it failed)."""
        if self.on_model == batch:
            self.on_model = None
            self.finishing.add(batch)

    def finished(self, batch: B) -> None:
        """The batch is answered, whatever stage it was at."""
        self.forwarded(batch)
        self.finishing.discard(batch)
        if batch in self.waiting:
            self.waiting.remove(batch)
            self.ready.discard(batch)

    def stop(self) -> list[B]:
        """Fetch and start nothing more; the batches not started, to be given back."""
        self.stopping = True
        back = list(self.waiting)
        self.waiting.clear()
        self.ready.clear()
        return back
