"""The bus as the services see it: a `typing.Protocol` and the names it speaks in.

Every service shell talks to a `Bus`: appends to the event log with an expectation, ordered
feeds of the log, work queues (publish, fetch, ack, nak, term, in progress), core-NATS
announcements, request/reply, a key-value bucket (the leases) and an object store (the
snapshots). `tessera.bus.jetstream` implements it on NATS JetStream for production and
`tessera.bus.memory` in memory for the unit tier; `tests/unit/bus_contract.py` holds the behaviour
both must have.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, TypeVar

import structlog

from tessera.errors import BusClosed, BusError
from tessera.events import AnyEvent, Event

log = structlog.get_logger(__name__)

T = TypeVar("T")

DUPLICATE_WINDOW_S = 120.0  # how long a Nats-Msg-Id is remembered by a stream


@dataclass(frozen=True)
class Names:
    """Stream names and subjects of one namespace."""

    ns: str

    def stream(self, base: str) -> str:
        return base if self.ns == "tessera" else f"{self.ns.upper()}_{base}"

    @property
    def events_stream(self) -> str:
        return self.stream("EVENTS")

    @property
    def tiles_stream(self) -> str:
        return self.stream("TILES")

    @property
    def results_stream(self) -> str:
        return self.stream("RESULTS")

    @property
    def events(self) -> str:
        return f"{self.ns}.evt.>"

    def tenant_events(self, tenant_id: object) -> str:
        return f"{self.ns}.evt.{tenant_id}.>"

    def tiles(self, suffix: str = ">") -> str:
        return f"{self.ns}.tiles.{suffix}"

    def results(self, suffix: str = ">") -> str:
        return f"{self.ns}.results.{suffix}"

    @property
    def projected(self) -> str:
        """Core-NATS subject on which the projector announces its checkpoint after each batch."""
        return f"{self.ns}.projected"

    def view(self, tenant_id: object) -> str:
        """Core-NATS subject on which the projector announces read-model changes of a tenant."""
        return f"{self.ns}.view.{tenant_id}"

    def rpc(self, service: str, verb: str) -> str:
        return f"{self.ns}.rpc.{service}.{verb}"


@dataclass(frozen=True)
class Envelope:
    """An event read from the log, with its stream sequence."""

    seq: int
    subject: str
    event: AnyEvent


class Feed(Protocol):
    """The log in stream order from a sequence, followed live; an async context manager."""

    async def __aenter__(self) -> Feed: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def get(self, timeout: float | None = None) -> Envelope | None:
        """The next event, or None after `timeout` seconds without one (cancel-safe)."""

    async def batch(self, max_size: int = 500, timeout: float = 0.5) -> list[Envelope]:
        """Wait up to `timeout` for one event, then take whatever else is already buffered."""


class WorkMessage(Protocol):
    """A message fetched from a work queue; answered once with ack, nak or term."""

    @property
    def subject(self) -> str: ...

    @property
    def data(self) -> bytes: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def num_delivered(self) -> int:
        """How many times it was delivered, this time included."""

    async def ack(self) -> None:
        """Done: the work queue forgets it."""

    async def nak(self, delay: float | None = None) -> None:
        """Not done: deliver it again (after `delay` seconds)."""

    async def term(self) -> None:
        """Never to be done: the work queue forgets it without redelivery."""

    async def in_progress(self) -> None:
        """Still working on it: restart its ack wait."""


class WorkConsumer(Protocol):
    """A durable, explicit-ack pull consumer of a work queue, shared by a service's replicas."""

    async def fetch(self, batch: int, timeout: float) -> list[WorkMessage]:
        """Up to `batch` messages; [] when none came within `timeout`; `BusClosed` once the
        connection is closed."""

    async def close(self) -> None:
        """Stop pulling (the durable consumer stays for the next run)."""


@dataclass(frozen=True)
class WorkQueue:
    """A durable consumer of a work-queue stream: which, of what, and how patient."""

    stream: str
    durable: str
    filter_subject: str
    ack_wait: float = 30.0  # unanswered this long (without `in_progress`): delivered again
    max_ack_pending: int = 64
    max_deliver: int = 10


class Subscription(Protocol):
    async def unsubscribe(self) -> None: ...


@dataclass(frozen=True)
class Entry:
    """A key-value entry and its revision (the compare-and-set token)."""

    value: bytes
    revision: int


class KeyValue(Protocol):
    """A bucket whose entries expire `ttl` after they were written."""

    async def create(self, key: str, value: bytes) -> int:
        """Write a key nobody holds; returns its revision, `KeyConflict` if it exists."""

    async def get(self, key: str) -> Entry | None: ...

    async def update(self, key: str, value: bytes, *, last: int) -> int:
        """Write if the key is still at revision `last` (else `KeyConflict`); the new revision."""

    async def delete(self, key: str, *, last: int) -> None:
        """Delete if the key is still at revision `last` (else `KeyConflict`)."""


class ObjectStore(Protocol):
    async def get(self, name: str) -> bytes | None: ...

    async def put(self, name: str, data: bytes) -> None: ...


Headers = Mapping[str, str]
RequestHandler = Callable[[bytes], Awaitable[bytes]]
AnnouncementHandler = Callable[[str, bytes], Awaitable[None]]


class Bus(Protocol):
    """Tessera's streams and conventions, whatever carries them."""

    names: Names

    @property
    def connected(self) -> bool:
        """Connected, and the streams answered since the last outage."""

    async def until_reconnected(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds; True as soon as the streams are back after an outage."""

    async def close(self) -> None: ...

    # streams
    async def ensure_streams(self) -> None:
        """Create or update EVENTS, TILES and RESULTS; safe to call from every service."""

    async def delete_streams(self) -> None: ...

    async def last_sequence(self, stream: str | None = None) -> int:
        """The last sequence of a stream (default: the event log), 0 when it is empty."""

    async def last_sequence_of(self, subject: str) -> int | None:
        """The sequence of the last event on one subject of the log, None when it has none."""

    async def last_event_of(self, subject: str) -> AnyEvent | None:
        """The last event on one subject of the log (e.g. a workflow's submission), or None."""

    async def log_created(self) -> str:
        """What tells this event log from an earlier one of the same name (its creation)."""

    # the event log
    async def append(self, event: Event, *, expected_last_subject_seq: int | None = None) -> int:
        """Append one event (`Nats-Msg-Id` = its id) and return its stream sequence.

        `expected_last_subject_seq` makes the append conditional on nobody having appended to the
        same subject since (0 = the subject must be empty): else `ConcurrencyConflict`.
        """

    def feed(self, *, start_seq: int = 1, subject: str | None = None) -> Feed: ...

    # work queues
    async def publish_work(
        self, subject: str, payload: bytes, *, msg_id: str, headers: Headers | None = None
    ) -> int:
        """Queue a message (deduplicated by `msg_id`); `BusError` when it did not go through."""

    async def work_consumer(self, queue: WorkQueue) -> WorkConsumer:
        """A durable explicit-ack pull consumer shared by all replicas of a service."""

    async def in_flight(self, stream: str, filter_subject: str) -> dict[str, int]:
        """Messages per subject still in a work queue (queued, or delivered and not acked)."""

    # core NATS: announcements and request/reply
    async def announce(self, subject: str, payload: bytes) -> None:
        """Publish without persistence to whoever listens now."""

    async def subscribe(self, subject: str, handler: AnnouncementHandler) -> Subscription:
        """Call `handler(subject, payload)` for each announcement on `subject` (wildcards)."""

    async def request(self, subject: str, payload: bytes, *, timeout: float = 5.0) -> bytes:
        """The answer of one server of `subject`; `BusError` when none answers in time."""

    async def serve(
        self, subject: str, handler: RequestHandler, *, queue: str = ""
    ) -> Subscription: ...

    # buckets
    async def key_value(self, bucket: str, *, ttl: float) -> KeyValue: ...

    async def object_store(self, bucket: str) -> ObjectStore: ...


async def read_events(
    bus: Bus, *, start_seq: int = 1, subject: str | None = None, until_seq: int | None = None
) -> AsyncIterator[Envelope]:
    """Read the log in order from `start_seq` up to `until_seq` (default: the current end)."""
    end = until_seq if until_seq is not None else await bus.last_sequence()
    if end < start_seq:
        return
    async with bus.feed(start_seq=start_seq, subject=subject) as feed:
        while True:
            env = await feed.get(timeout=10.0)
            if env is None:  # filtered subjects can end before the stream does
                return
            yield env
            if env.seq >= end:
                return


def retry_delay(tries: int, *, first: float = 0.5, cap: float = 10.0) -> float:
    """Seconds to wait before trying a failed bus operation again after `tries` failures."""
    return min(first * 2.0 ** max(0, tries - 1), cap)


Wait = Callable[[float], Awaitable[object]]


async def pull(
    consumer: WorkConsumer,
    done: Callable[[], bool],
    batch: int = 1,
    *,
    timeout: float = 1.0,
    wait: Wait = asyncio.sleep,
) -> AsyncIterator[list[WorkMessage]]:
    """The one fetch loop: non-empty batches of messages until `done()` or the bus closes.

    A fetch that fails (`BusError`: an outage, a 503 while JetStream elects a leader) is tried
    again after `wait(retry_delay(tries))`; pass the bus's `until_reconnected` to go on as soon
    as the server is back.
    """
    failures = 0
    while not done():
        try:
            msgs = await consumer.fetch(batch, timeout)
        except BusClosed:
            return
        except BusError as exc:
            failures += 1
            if failures == 1:
                log.warning("fetch_failed", error=str(exc))
            await wait(retry_delay(failures))
            continue
        if failures:
            log.info("fetch_back", failures=failures)
            failures = 0
        if msgs:
            yield msgs


async def patiently(call: Callable[[], Awaitable[T]], *, patience: float, every: float = 0.25) -> T:
    """`call()`, asked again every `every` seconds while it fails with `BusError` (the server
    gone, a stream electing a new leader: 503, no responders) for up to `patience` seconds; then
    its last error. Only for calls that are safe to repeat (deduplicated publishes)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while True:
        try:
            return await call()
        except BusError:
            if loop.time() + every > deadline:
                raise
        await asyncio.sleep(every)


async def hold_in_progress(msg: WorkMessage, every: float) -> None:
    """Keep telling the work queue that long work on `msg` is alive until cancelled."""
    while True:
        await asyncio.sleep(every)
        with contextlib.suppress(Exception):
            await msg.in_progress()


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a trailing `>` one or more."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)
