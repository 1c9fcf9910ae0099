"""The in-memory bus's feed of the log: from a sequence, in order, followed live."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import TYPE_CHECKING

from tessera.bus.port import Envelope, subject_matches
from tessera.events import decode_event

if TYPE_CHECKING:
    from tessera.bus.memory import MemoryBus


class MemoryFeed:
    """The log from a sequence, followed live (implements `Feed`)."""

    def __init__(self, bus: MemoryBus, start_seq: int, subject: str) -> None:
        self._bus = bus
        self._next = start_seq
        self._subject = subject

    async def __aenter__(self) -> MemoryFeed:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def _take(self) -> Envelope | None:
        if self._bus.down:
            return None  # as an ordered consumer in an outage: nothing, then on from here
        stream = self._bus._stream(self._bus.names.events_stream)
        while self._next <= stream.last_seq:
            msg = stream.messages.get(self._next)
            self._next += 1
            if msg is None or not subject_matches(self._subject, msg.subject):
                continue
            try:
                event = decode_event(msg.data)
            except ValueError:
                continue  # as the JetStream feed: a foreign message does not stop it
            return Envelope(seq=msg.seq, subject=msg.subject, event=event)
        return None

    async def get(self, timeout: float | None = None) -> Envelope | None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            env = self._take()
            if env is not None:
                return env
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return None
            await self._bus._wait_change(left)

    async def batch(self, max_size: int = 500, timeout: float = 0.5) -> list[Envelope]:
        first = await self.get(timeout)
        if first is None:
            return []
        out = [first]
        while len(out) < max_size and (env := self._take()) is not None:
            out.append(env)
        return out
