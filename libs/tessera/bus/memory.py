"""The `Bus` in memory, for the unit tier: one process, no server, time as an input.

A real fake, not a mock: the log keeps stream order and sequences, refuses an append whose
expected last subject sequence is stale, and drops a `Nats-Msg-Id` seen within the duplicate
window; work queues forget a message once it is acked or terminated, deliver it again after its
ack wait (restarted by `in_progress`) or a nak's delay, stop delivering it after `max_deliver`
deliveries, and count what is still queued per subject; key-value entries expire `ttl` after
they were written. Every deadline is read from `clock` (default `time.monotonic`), so a test
that moves a fake clock sees redeliveries and expiries at once; waits for messages use real
time (`timeout`), rechecking the clock every `POLL_S`.

Outages: `outage()` (or `cut()` ... `restore()`) stands for a lost server, a disconnect or a
JetStream leader election, for as long as the test says. Meanwhile every request to the
"server" (append, publish, fetch, request/reply, stream info, buckets) raises `BusError`, as the
JetStream adapter maps a 503, "no responders", a timeout or a disconnect; what a client sends
without waiting for an answer (ack, nak, term, in progress, announcements) is lost, so an
unanswered delivery comes back after its ack wait; feeds deliver nothing until it ends, then
carry on where they were; `connected` is False, and `until_reconnected` returns True once it
ends.

Several services share one `MemoryBus` like processes share one server; `tests/unit/bus_contract.py`
holds what it has in common with the JetStream bus (its `OutageContract`, the memory bus only).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from tessera import telemetry
from tessera.bus.memory_buckets import MemoryKeyValue, MemoryObjectStore
from tessera.bus.memory_feed import MemoryFeed
from tessera.bus.port import (
    DUPLICATE_WINDOW_S,
    AnnouncementHandler,
    Headers,
    Names,
    RequestHandler,
    WorkMessage,
    WorkQueue,
    subject_matches,
)
from tessera.errors import BusClosed, BusError, ConcurrencyConflict
from tessera.events import AnyEvent, Event, decode_event, encode_event, subject_for

POLL_S = 0.005


@dataclass
class _Message:
    seq: int
    subject: str
    data: bytes
    headers: dict[str, str]


@dataclass
class _Stream:
    name: str
    subjects: list[str]
    work_queue: bool
    created: str
    messages: dict[int, _Message] = field(default_factory=dict)  # in sequence order
    last_seq: int = 0
    last_of_subject: dict[str, int] = field(default_factory=dict)
    msg_ids: dict[str, tuple[int, float]] = field(default_factory=dict)  # id → (seq, when)

    def holds(self, subject: str) -> bool:
        return any(subject_matches(p, subject) for p in self.subjects)


@dataclass
class _Delivery:
    count: int = 0
    due: float = 0.0  # redelivered once the clock passes it
    pending: bool = False  # delivered, not answered, within its ack wait


class _Subscription:
    def __init__(self, subs: list[_Subscription], subject: str, queue: str, handler: object):
        self._subs = subs
        self.subject = subject
        self.queue = queue
        self.handler = handler
        subs.append(self)

    async def unsubscribe(self) -> None:
        with contextlib.suppress(ValueError):
            self._subs.remove(self)


class MemoryBus:
    """Implements `Bus` in memory; `clock` gives the time every deadline is measured in."""

    def __init__(self, ns: str = "tessera", *, clock: Callable[[], float] = time.monotonic):
        self.names = Names(ns)
        self.clock = clock
        self._streams: dict[str, _Stream] = {}
        self._consumers: dict[tuple[str, str], _Consumer] = {}
        self._subs: list[_Subscription] = []
        self._servers: list[_Subscription] = []
        self._buckets: dict[str, MemoryKeyValue] = {}
        self._objects: dict[str, MemoryObjectStore] = {}
        self._changed = asyncio.Event()  # set, and replaced, on every write to a stream
        self._handling: set[asyncio.Task[None]] = set()  # announcements being handled
        self._created = itertools.count(1)
        self._closed = False
        self._back: asyncio.Event | None = None  # unset while an outage lasts

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _wait_change(self, timeout: float | None) -> None:
        """Until the next write to a stream, at most `timeout` seconds.

        `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` swallows a cancellation that
        lands as the event is set, and a cancelled service would carry on.
        """
        changed = self._changed
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await changed.wait()

    # --- outages ------------------------------------------------------------------------

    @property
    def down(self) -> bool:
        """In an outage: requests fail with `BusError`, answers and announcements are lost."""
        return self._back is not None and not self._back.is_set()

    def cut(self) -> None:
        """Lose the "server" until `restore()`."""
        if not self.down:
            self._back = asyncio.Event()

    def restore(self) -> None:
        """End the outage: requests go through again, feeds carry on, waiters wake."""
        if self._back is not None:
            self._back.set()
        self._notify()

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """The "server" is lost inside the block."""
        self.cut()
        try:
            yield
        finally:
            self.restore()

    def _reach(self, what: str) -> None:
        """Fail as the JetStream adapter does when a request gets no answer."""
        if self._closed:
            raise BusClosed("the bus is closed")
        if self.down:
            raise BusError(f"{what} failed: nats: no responders available for request")

    @property
    def connected(self) -> bool:
        return not self._closed and not self.down

    async def until_reconnected(self, timeout: float) -> bool:
        """True as soon as an outage ends (waiting up to `timeout`), else False."""
        back = self._back if self.down else None
        if back is None:
            await asyncio.sleep(timeout)
            return False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await back.wait()
        return back.is_set()

    async def close(self) -> None:
        self._closed = True
        self._notify()

    # --- streams ------------------------------------------------------------------------

    async def ensure_streams(self) -> None:
        n = self.names
        for name, subject, work_queue in (
            (n.events_stream, n.events, False),
            (n.tiles_stream, n.tiles(), True),
            (n.results_stream, n.results(), True),
        ):
            if name not in self._streams:
                created = f"memory-{next(self._created)}"
                self._streams[name] = _Stream(name, [subject], work_queue, created)

    async def delete_streams(self) -> None:
        self._streams.clear()
        self._consumers.clear()
        self._buckets.clear()
        self._objects.clear()

    def _stream(self, name: str) -> _Stream:
        self._reach(f"stream info of {name}")
        try:
            return self._streams[name]
        except KeyError:
            raise BusError(f"stream {name} not found") from None

    async def last_sequence(self, stream: str | None = None) -> int:
        return self._stream(stream or self.names.events_stream).last_seq

    async def last_sequence_of(self, subject: str) -> int | None:
        return self._stream(self.names.events_stream).last_of_subject.get(subject)

    async def last_event_of(self, subject: str) -> AnyEvent | None:
        stream = self._stream(self.names.events_stream)
        msg = stream.messages.get(stream.last_of_subject.get(subject, 0))
        return None if msg is None or not msg.data else decode_event(msg.data)

    async def log_created(self) -> str:
        return self._stream(self.names.events_stream).created

    def _store(
        self,
        subject: str,
        data: bytes,
        headers: Mapping[str, str],
        *,
        expected_last_subject_seq: int | None = None,
    ) -> int:
        self._reach(f"publish to {subject}")
        stream = next((s for s in self._streams.values() if s.holds(subject)), None)
        if stream is None:
            raise BusError(f"no stream holds {subject}")
        now = self.clock()
        msg_id = headers.get("Nats-Msg-Id")
        if len(stream.msg_ids) > 10_000:  # keep the window's ids only
            window = stream.msg_ids.items()
            stream.msg_ids = {k: v for k, v in window if now - v[1] < DUPLICATE_WINDOW_S}
        seen = stream.msg_ids.get(msg_id) if msg_id is not None else None
        if seen is not None and now - seen[1] < DUPLICATE_WINDOW_S:
            return seen[0]  # as JetStream: a duplicate is acked with the first one's sequence
        expected = expected_last_subject_seq
        if expected is not None and stream.last_of_subject.get(subject, 0) != expected:
            raise ConcurrencyConflict(subject, expected)
        stream.last_seq += 1
        seq = stream.last_seq
        stream.messages[seq] = _Message(seq, subject, data, dict(headers))
        stream.last_of_subject[subject] = seq
        if msg_id is not None:
            stream.msg_ids[msg_id] = (seq, now)
        self._notify()
        return seq

    # --- the event log ------------------------------------------------------------------

    async def append(self, event: Event, *, expected_last_subject_seq: int | None = None) -> int:
        subject = subject_for(event, self.names.ns)
        seq = self._store(
            subject,
            encode_event(event),
            {"Nats-Msg-Id": str(event.event_id)},
            expected_last_subject_seq=expected_last_subject_seq,
        )
        telemetry.EVENTS_APPENDED.labels(type=event.type).inc()
        return seq

    def feed(self, *, start_seq: int = 1, subject: str | None = None) -> MemoryFeed:
        return MemoryFeed(self, max(1, start_seq), subject or self.names.events)

    # --- work queues --------------------------------------------------------------------

    async def publish_work(
        self, subject: str, payload: bytes, *, msg_id: str, headers: Headers | None = None
    ) -> int:
        return self._store(subject, payload, {**(headers or {}), "Nats-Msg-Id": msg_id})

    async def work_consumer(self, queue: WorkQueue) -> MemoryConsumer:
        stream, key = self._stream(queue.stream), (queue.stream, queue.durable)
        state = self._consumers.get(key)
        if state is None:
            taken = [c.queue.filter_subject for k, c in self._consumers.items() if k[0] == key[0]]
            if stream.work_queue and any(_overlap(f, queue.filter_subject) for f in taken):
                raise BusError(f"{queue.stream} already has a consumer of {queue.filter_subject}")
            state = self._consumers[key] = _Consumer(stream, queue)
        else:  # a restarted replica: the durable consumer keeps its deliveries
            state.stream = stream
        return MemoryConsumer(self, state)

    async def in_flight(self, stream: str, filter_subject: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for msg in self._stream(stream).messages.values():
            if subject_matches(filter_subject, msg.subject):
                counts[msg.subject] = counts.get(msg.subject, 0) + 1
        return counts

    # --- core NATS ----------------------------------------------------------------------

    async def announce(self, subject: str, payload: bytes) -> None:
        if self._closed:
            raise BusClosed("the bus is closed")
        if self.down:
            return  # core NATS: nobody hears it
        for sub in list(self._subs):
            if subject_matches(sub.subject, subject):
                handler: AnnouncementHandler = sub.handler  # type: ignore[assignment]
                task = asyncio.create_task(_deliver(handler, subject, payload))
                self._handling.add(task)
                task.add_done_callback(self._handling.discard)

    async def subscribe(self, subject: str, handler: AnnouncementHandler) -> _Subscription:
        return _Subscription(self._subs, subject, "", handler)

    async def request(self, subject: str, payload: bytes, *, timeout: float = 5.0) -> bytes:
        self._reach(f"request on {subject}")
        servers = [s for s in self._servers if subject_matches(s.subject, subject)]
        if not servers:
            raise BusError(f"no answer on {subject}: no responders")
        server = servers[0]
        self._servers.remove(server)  # round robin among a queue group
        self._servers.append(server)
        handler: RequestHandler = server.handler  # type: ignore[assignment]
        try:
            async with asyncio.timeout(timeout):
                return await handler(payload)
        except TimeoutError as exc:
            raise BusError(f"no answer on {subject}: timeout") from exc
        except Exception:
            return b'{"error": "internal error"}'

    async def serve(
        self, subject: str, handler: RequestHandler, *, queue: str = ""
    ) -> _Subscription:
        return _Subscription(self._servers, subject, queue, handler)

    # --- buckets ------------------------------------------------------------------------

    async def key_value(self, bucket: str, *, ttl: float) -> MemoryKeyValue:
        self._reach(f"key-value bucket {bucket}")
        if bucket not in self._buckets:
            self._buckets[bucket] = MemoryKeyValue(self.clock, ttl, self._reach)
        return self._buckets[bucket]

    async def object_store(self, bucket: str) -> MemoryObjectStore:
        self._reach(f"object store {bucket}")
        return self._objects.setdefault(bucket, MemoryObjectStore(self._reach))


@dataclass
class _Consumer:
    """A durable consumer's state on the 'server': what was delivered how often, until when."""

    stream: _Stream
    queue: WorkQueue
    deliveries: dict[int, _Delivery] = field(default_factory=dict)

    def due(self, now: float, room: int) -> list[_Message]:
        """What may be delivered now, oldest first, at most `room`."""
        out: list[_Message] = []
        for seq, msg in self.stream.messages.items():
            if len(out) >= room:
                break
            if not subject_matches(self.queue.filter_subject, msg.subject):
                continue
            d = self.deliveries.get(seq)
            if d is None or (d.count < self.queue.max_deliver and d.due <= now):
                out.append(msg)
        return out

    def outstanding(self, now: float) -> int:
        return sum(1 for d in self.deliveries.values() if d.pending and d.due > now)


class MemoryConsumer:
    """A pull consumer of a memory work queue (implements `WorkConsumer`)."""

    def __init__(self, bus: MemoryBus, state: _Consumer) -> None:
        self._bus = bus
        self._state = state
        self._closed = False

    async def fetch(self, batch: int, timeout: float) -> list[WorkMessage]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._closed or self._bus._closed:
                raise BusClosed("the consumer is closed")
            self._bus._reach(f"fetch from {self._state.queue.durable}")
            state, now = self._state, self._bus.clock()
            room = min(batch, state.queue.max_ack_pending - state.outstanding(now))
            msgs = state.due(now, room) if room > 0 else []
            if msgs:
                out: list[WorkMessage] = []
                for msg in msgs:
                    d = state.deliveries.setdefault(msg.seq, _Delivery())
                    d.count += 1
                    d.pending = True
                    d.due = now + state.queue.ack_wait
                    work = (msg.subject, msg.data, msg.headers, d.count, self._bus, state, msg.seq)
                    out.append(MemoryWork(*work))
                return out
            left = deadline - loop.time()
            if left <= 0:
                return []
            await self._bus._wait_change(min(left, POLL_S))

    async def close(self) -> None:
        self._closed = True


@dataclass
class MemoryWork:
    """A delivered work-queue message (implements `WorkMessage`)."""

    subject: str
    data: bytes
    headers: Mapping[str, str]
    num_delivered: int
    _bus: MemoryBus
    _consumer: _Consumer
    _seq: int

    def _current(self) -> _Delivery | None:
        """This delivery's record; None when the message was answered or delivered again, or
        when the answer is lost in an outage."""
        if self._bus.down:
            return None
        d = self._consumer.deliveries.get(self._seq)
        if d is None or d.count != self.num_delivered or not d.pending:
            return None
        return d

    def _forget(self) -> None:
        if self._current() is None:
            return
        self._consumer.deliveries.pop(self._seq, None)
        self._consumer.stream.messages.pop(self._seq, None)
        self._bus._notify()

    async def ack(self) -> None:
        self._forget()

    async def term(self) -> None:
        self._forget()

    async def nak(self, delay: float | None = None) -> None:
        d = self._current()
        if d is not None:
            d.pending = False
            d.due = self._bus.clock() + (delay or 0.0)
            self._bus._notify()

    async def in_progress(self) -> None:
        d = self._current()
        if d is not None:
            d.due = self._bus.clock() + self._consumer.queue.ack_wait


async def _deliver(handler: AnnouncementHandler, subject: str, payload: bytes) -> None:
    await handler(subject, payload)


def _overlap(a: str, b: str) -> bool:
    """Whether two subject filters can match a common subject (enough for Tessera's filters)."""
    return subject_matches(a, b) or subject_matches(b, a) or a == b
