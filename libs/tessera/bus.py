"""NATS JetStream plumbing shared by every service: streams, appends, feeds, work queues, RPC.

Three streams per namespace (`tessera` gives the plain names the design uses):

- EVENTS   Limits retention, file storage: the event log, source of truth.
- TILES    WorkQueue: tile batches (coordinates only) for the inference pool.
- RESULTS  WorkQueue: compact per-tile results for the merger.

Appends carry `Nats-Msg-Id` = event id so JetStream drops duplicates inside its window, and
deciders may add `Nats-Expected-Last-Subject-Sequence` so that a stale decision is refused
(`ConcurrencyConflict`) instead of applied twice.

Outages: the client retries the server every `RECONNECT_WAIT_S` for ever, and pings it every
`PING_INTERVAL_S` (a silent network is noticed after two unanswered pings). Once it is back and
JetStream answers again, every open feed resumes after the last event it queued (a restarted
server has lost the feeds' in-memory consumers: nats.py would notice only after missed
heartbeats, 10-20 s) and `until_reconnected` wakes whoever waits on it (the lease loop). Losing
and regaining the server are logged with the outage's length.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import APIError, BadRequestError, NotFoundError

from tessera import telemetry
from tessera.errors import BusError, ConcurrencyConflict
from tessera.events import AnyEvent, Event, decode_event, encode_event, subject_for

log = structlog.get_logger(__name__)

WRONG_LAST_SEQUENCE = 10071
DUPLICATE_WINDOW_S = 120.0
RECONNECT_WAIT_S = 0.25
PING_INTERVAL_S = 5


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


class Bus:
    """A NATS connection with Tessera's streams and conventions."""

    def __init__(self, nc: NATS, ns: str) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.names = Names(ns)
        self.feeds: set[EventFeed] = set()  # open feeds, resumed after an outage
        self._back = asyncio.Event()  # set, and replaced, each time JetStream is back
        self._down_since: float | None = None
        self._returning: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, url: str, ns: str, *, name: str = "tessera") -> Bus:
        bus: Bus | None = None

        async def on_error(exc: Exception) -> None:
            if isinstance(exc, OSError) and bus is not None and bus._down_since is not None:
                return  # a reconnect attempt failed: the outage is logged at its start and end
            log.warning("nats_error", error=str(exc))

        async def on_disconnected() -> None:
            if bus is not None:
                bus._disconnected()

        async def on_reconnected() -> None:
            if bus is not None:
                bus._reconnected()

        nc = await nats.connect(
            url,
            name=name,
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            max_reconnect_attempts=-1,
            reconnect_time_wait=RECONNECT_WAIT_S,
            ping_interval=PING_INTERVAL_S,
            max_outstanding_pings=2,
        )
        bus = cls(nc, ns)
        return bus

    # --- outages ------------------------------------------------------------------------

    def _disconnected(self) -> None:
        if self.nc.is_closed or self.nc.is_draining or self._down_since is not None:
            return  # a close, or an outage already noted
        self._down_since = time.monotonic()
        log.warning("nats_disconnected", connection=self.nc.options.get("name"))

    def _reconnected(self) -> None:
        if self._returning is None or self._returning.done():
            self._returning = asyncio.create_task(self._jetstream_back())

    async def _jetstream_back(self) -> None:
        """Wait until JetStream answers (a restarted server recovers its streams first), then
        resume the feeds and wake `until_reconnected`."""
        delay = 0.05
        while not self.nc.is_closed:
            try:
                await self.js.account_info()
                break
            except (nats.errors.Error, TimeoutError, OSError):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
        down_s = time.monotonic() - self._down_since if self._down_since is not None else 0.0
        self._down_since = None
        log.info("nats_reconnected", down_s=round(down_s, 3), feeds=len(self.feeds))
        for feed in list(self.feeds):
            feed.resume()
        back, self._back = self._back, asyncio.Event()
        back.set()

    @property
    def connected(self) -> bool:
        """Connected, and JetStream answered since the last outage."""
        return self.nc.is_connected and self._down_since is None

    async def until_reconnected(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds; True as soon as JetStream is back after an outage."""
        back = self._back
        try:
            await asyncio.wait_for(back.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Drain: finish in-flight work, flush publishes, then close."""
        if not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await self.nc.drain()

    # --- streams ------------------------------------------------------------------------

    async def ensure_streams(self) -> None:
        """Create or update the three streams; safe to call from every service on start."""
        n = self.names
        await self._ensure(
            api.StreamConfig(
                name=n.events_stream,
                subjects=[n.events],
                retention=api.RetentionPolicy.LIMITS,
                storage=api.StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_S,
            )
        )
        for name, subject in ((n.tiles_stream, n.tiles()), (n.results_stream, n.results())):
            await self._ensure(
                api.StreamConfig(
                    name=name,
                    subjects=[subject],
                    retention=api.RetentionPolicy.WORK_QUEUE,
                    storage=api.StorageType.FILE,
                    duplicate_window=DUPLICATE_WINDOW_S,
                )
            )

    async def _ensure(self, config: api.StreamConfig) -> None:
        try:
            info = await self.js.stream_info(config.name or "")
        except NotFoundError:
            try:
                await self.js.add_stream(config)
            except BadRequestError:  # another service created it in between
                await self.js.stream_info(config.name or "")
            return
        # Replicas are the operator's (R3 on a cluster: `nats stream edit <stream> --replicas 3`):
        # an update from a starting service must not scale the stream back to one.
        config = replace(config, num_replicas=info.config.num_replicas)
        with contextlib.suppress(BadRequestError):  # immutable fields differ: keep the stream
            await self.js.update_stream(config)

    async def delete_streams(self) -> None:
        names = self.names
        leases = f"KV_{names.ns}_leases"  # tessera.lease's bucket
        snapshots = f"OBJ_{names.ns}_snapshots"  # tessera.snapshots' bucket
        streams = (names.events_stream, names.tiles_stream, names.results_stream)
        for name in (*streams, leases, snapshots):
            with contextlib.suppress(NotFoundError):
                await self.js.delete_stream(name)

    async def last_sequence(self, stream: str | None = None) -> int:
        info = await self.js.stream_info(stream or self.names.events_stream)
        return int(info.state.last_seq)

    async def last_sequence_of(self, subject: str) -> int | None:
        """The sequence of the last event on one subject of the log, None when it has none."""
        msg = await self._last_msg(subject)
        return None if msg is None else int(msg.seq or 0) or None

    async def last_event_of(self, subject: str) -> AnyEvent | None:
        """The last event on one subject of the log (e.g. a workflow's submission), or None."""
        msg = await self._last_msg(subject)
        return None if msg is None or not msg.data else decode_event(msg.data)

    async def _last_msg(self, subject: str) -> api.RawStreamMsg | None:
        try:
            return await self.js.get_last_msg(self.names.events_stream, subject)
        except NotFoundError:
            return None
        except (APIError, TimeoutError, nats.errors.Error) as exc:
            raise BusError(f"reading the last event of {subject} failed: {exc}") from exc

    # --- the event log ------------------------------------------------------------------

    async def append(
        self,
        event: Event,
        *,
        expected_last_subject_seq: int | None = None,
        msg_id: str | None = None,
    ) -> int:
        """Append one event to the log and return its stream sequence.

        `expected_last_subject_seq` makes the append conditional on nobody having appended to the
        same subject since (0 = the subject must be empty).
        """
        subject = subject_for(event, self.names.ns)
        headers = {"Nats-Msg-Id": msg_id or str(event.event_id)}
        if expected_last_subject_seq is not None:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(expected_last_subject_seq)
        try:
            ack = await self.js.publish(
                subject, encode_event(event), stream=self.names.events_stream, headers=headers
            )
        except APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                raise ConcurrencyConflict(subject, expected_last_subject_seq or 0) from exc
            raise BusError(f"append {event.type} failed: {exc}") from exc
        except (TimeoutError, nats.errors.Error) as exc:
            raise BusError(f"append {event.type} failed: {exc}") from exc
        telemetry.EVENTS_APPENDED.labels(type=event.type).inc()
        log.info("event_appended", type=event.type, seq=ack.seq, **telemetry.ids_of(event))
        return int(ack.seq)

    def feed(self, *, start_seq: int = 1, subject: str | None = None) -> EventFeed:
        """The log in order from `start_seq`, followed live (use as an async context manager)."""
        return EventFeed(self, start_seq=start_seq, subject=subject)

    async def read_events(
        self, *, start_seq: int = 1, subject: str | None = None, until_seq: int | None = None
    ) -> AsyncIterator[Envelope]:
        """Read the log in order from `start_seq` up to `until_seq` (default: the current end)."""
        end = until_seq if until_seq is not None else await self.last_sequence()
        if end < start_seq:
            return
        async with self.feed(start_seq=start_seq, subject=subject) as feed:
            while True:
                env = await feed.get(timeout=10.0)
                if env is None:  # filtered subjects can end before the stream does
                    return
                yield env
                if env.seq >= end:
                    return

    # --- work queues --------------------------------------------------------------------

    async def publish_work(self, subject: str, payload: bytes, *, msg_id: str) -> int:
        try:
            ack = await self.js.publish(subject, payload, headers={"Nats-Msg-Id": msg_id})
        except (APIError, TimeoutError, nats.errors.Error) as exc:
            raise BusError(f"publish to {subject} failed: {exc}") from exc
        return int(ack.seq)

    async def work_consumer(
        self,
        stream: str,
        durable: str,
        filter_subject: str,
        *,
        ack_wait: float = 30.0,
        max_ack_pending: int = 64,
        max_deliver: int = 10,
    ) -> JetStreamContext.PullSubscription:
        """A durable explicit-ack pull consumer shared by all replicas of a service."""
        config = api.ConsumerConfig(
            durable_name=durable,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=ack_wait,
            max_ack_pending=max_ack_pending,
            max_deliver=max_deliver,
            filter_subject=filter_subject,
        )
        return await self.js.pull_subscribe(
            filter_subject, durable=durable, stream=stream, config=config
        )

    # --- request / reply ----------------------------------------------------------------

    async def request(self, subject: str, payload: bytes, *, timeout: float = 5.0) -> bytes:
        try:
            reply = await self.nc.request(subject, payload, timeout=timeout)
        except (TimeoutError, nats.errors.NoRespondersError, nats.errors.TimeoutError) as exc:
            raise BusError(f"no answer on {subject}: {exc}") from exc
        return bytes(reply.data)

    async def serve(
        self, subject: str, handler: Callable[[bytes], Awaitable[bytes]], *, queue: str = ""
    ) -> Any:
        async def on_request(msg: Msg) -> None:
            try:
                answer = await handler(msg.data)
            except Exception:
                log.exception("rpc_handler_failed", subject=subject)
                answer = b'{"error": "internal error"}'
            await msg.respond(answer)

        return await self.nc.subscribe(subject, queue=queue, cb=on_request)


class EventFeed:
    """An ordered, ephemeral consumer of the log: exactly the stream order, no acks, no gaps.

    Consumers that keep their own checkpoint (the projector in PostgreSQL, the deciders in memory
    rebuilt on start) read the log through this rather than through a durable consumer.
    """

    def __init__(self, bus: Bus, *, start_seq: int, subject: str | None) -> None:
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


Handler = Callable[[Msg], Awaitable[None]]


async def run_pull_loop(
    sub: JetStreamContext.PullSubscription,
    handler: Handler,
    stop: asyncio.Event,
    *,
    batch: int = 1,
    fetch_timeout: float = 1.0,
    retry_delay: float = 1.0,
    name: str = "worker",
) -> None:
    """Fetch and handle messages until `stop` is set; ack on success, nak with delay on error.

    A handler may ack, nak or term a message itself; otherwise the loop acks it after the
    handler returns. The message being handled when `stop` is set is finished first.
    """
    while not stop.is_set():
        try:
            msgs = await sub.fetch(batch, timeout=fetch_timeout)
        except (TimeoutError, nats.errors.TimeoutError):
            continue  # nats.py raises on an empty pull instead of returning [] (nats.py #418)
        except nats.errors.ConnectionClosedError:
            return
        for msg in msgs:
            try:
                await handler(msg)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("message_handler_failed", worker=name, subject=msg.subject)
                if not msg._ackd:
                    with contextlib.suppress(Exception):
                        await msg.nak(delay=retry_delay)
                continue
            if not msg._ackd:
                await msg.ack()


async def hold_in_progress(msg: Msg, every: float) -> None:
    """Keep telling JetStream that long work on `msg` is alive until cancelled."""
    while True:
        await asyncio.sleep(every)
        with contextlib.suppress(Exception):
            await msg.in_progress()
