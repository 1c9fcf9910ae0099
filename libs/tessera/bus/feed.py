"""The JetStream feed of the log: an ordered consumer, resumed after an outage."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

import nats
import structlog
from nats.aio.msg import Msg
from nats.js import api

from tessera.bus.port import Envelope
from tessera.events import decode_event

if TYPE_CHECKING:
    from tessera.bus.jetstream import JetStreamBus

log = structlog.get_logger(__name__)


class EventFeed:
    """An ordered, ephemeral consumer of the log: exactly the stream order, no acks, no gaps.

    Consumers that keep their own checkpoint (the projector in PostgreSQL, the deciders in memory
    rebuilt on start) read the log through this rather than through a durable consumer.
    """

    def __init__(self, bus: JetStreamBus, *, start_seq: int, subject: str | None) -> None:
        self._bus = bus
        self._next = max(1, start_seq)  # the first sequence not queued yet
        self._subject = subject or bus.names.events
        self._queue: asyncio.Queue[Msg] = asyncio.Queue()
        self._sub: Any = None
        self._resuming: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventFeed:
        await self._subscribe()
        self._bus.feeds.add(self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._bus.feeds.discard(self)
        if self._resuming is not None:
            self._resuming.cancel()
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def _on_msg(self, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        if seq < self._next:  # queued already, by the consumer this one replaced
            return
        self._next = seq + 1
        self._queue.put_nowait(msg)

    async def _subscribe(self) -> None:
        """A new ordered consumer from the first sequence not queued yet, replacing the last."""
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self._next
        )
        self._sub = await self._bus.js.subscribe(
            self._subject,
            stream=self._bus.names.events_stream,
            ordered_consumer=True,
            config=config,
            cb=self._on_msg,
            pending_msgs_limit=-1,
        )

    def resume(self) -> None:
        """Follow on with a fresh consumer (after an outage), in the background."""
        if self._resuming is None or self._resuming.done():
            self._resuming = asyncio.create_task(self._resume())

    async def _resume(self) -> None:
        began, delay = time.monotonic(), 0.05
        while not self._bus.nc.is_closed:
            try:
                await self._subscribe()
            except (nats.errors.Error, TimeoutError, OSError) as exc:
                log.info("log_feed_resume_retry", error=str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            took = round(time.monotonic() - began, 3)
            log.info("log_feed_resumed", from_seq=self._next, seconds=took)
            return

    def _decode(self, msg: Msg) -> Envelope | None:
        seq = msg.metadata.sequence.stream
        try:
            event = decode_event(msg.data)
        except ValueError as exc:  # a foreign or corrupt message must not stop the feed
            log.error("undecodable_event", seq=seq, subject=msg.subject, error=str(exc))
            return None
        return Envelope(seq=seq, subject=msg.subject, event=event)

    async def get(self, timeout: float | None = None) -> Envelope | None:
        """The next event, or None after `timeout` seconds without one.

        Cancel-safe: `asyncio.timeout` around `Queue.get` leaves an item in the queue when the
        wait is cancelled, where Python 3.11's `wait_for` could take it and drop it.
        """
        while True:
            if not self._queue.empty():  # no timer to arm for what is already here
                msg = self._queue.get_nowait()
            else:
                try:
                    async with asyncio.timeout(timeout):
                        msg = await self._queue.get()
                except TimeoutError:
                    return None
            env = self._decode(msg)
            if env is not None:
                return env

    async def batch(self, max_size: int = 500, timeout: float = 0.5) -> list[Envelope]:
        """Wait up to `timeout` for one event, then take whatever else is already buffered."""
        first = await self.get(timeout)
        if first is None:
            return []
        out = [first]
        while len(out) < max_size and not self._queue.empty():
            env = self._decode(self._queue.get_nowait())
            if env is not None:
                out.append(env)
        return out
