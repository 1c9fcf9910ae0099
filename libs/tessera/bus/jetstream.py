"""The `Bus` on NATS JetStream: streams, appends, feeds, work queues, RPC, KV and objects.

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
from dataclasses import replace

import nats
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import APIError, BadRequestError, NotFoundError

from tessera import telemetry
from tessera.bus.feed import EventFeed
from tessera.bus.jetstream_handles import (
    WRONG_LAST_SEQUENCE,
    JetStreamConsumer,
    JetStreamKeyValue,
    JetStreamObjectStore,
)
from tessera.bus.port import (
    DUPLICATE_WINDOW_S,
    AnnouncementHandler,
    Headers,
    Names,
    RequestHandler,
    Subscription,
    WorkQueue,
)
from tessera.errors import BusError, ConcurrencyConflict
from tessera.events import AnyEvent, Event, decode_event, encode_event, subject_for

log = structlog.get_logger(__name__)

RECONNECT_WAIT_S = 0.25
PING_INTERVAL_S = 5
NATS_ERRORS = (APIError, TimeoutError, nats.errors.Error)


def seeds(url: str) -> list[str]:
    """The servers in a `NATS_URL`: one URL, or several comma-separated."""
    servers = [part.strip() for part in url.split(",") if part.strip()]
    if not servers:
        raise BusError(f"no NATS server in {url!r}")
    return servers


# What Tessera relies on in a stream; the rest (limits, placement, ...) is the operator's.
OWN_FIELDS = ("subjects", "retention", "storage", "duplicate_window")


def reconcile(current: api.StreamConfig, wanted: api.StreamConfig) -> api.StreamConfig:
    """The stream config to apply over `current`: Tessera's own fields as `wanted`, replicas
    scaled up to `wanted`'s (never down: more is an operator's choice), every other field as
    the operator left it."""
    own = {field: getattr(wanted, field) for field in OWN_FIELDS}
    replicas = max(current.num_replicas or 1, wanted.num_replicas or 1)
    return replace(current, **own, num_replicas=replicas)


def changes(before: api.StreamConfig, after: api.StreamConfig) -> dict[str, object]:
    return {
        field: getattr(after, field)
        for field in (*OWN_FIELDS, "num_replicas")
        if getattr(before, field) != getattr(after, field)
    }


class JetStreamBus:
    """A NATS connection with Tessera's streams and conventions (implements `Bus`)."""

    def __init__(self, nc: NATS, ns: str, *, replicas: int = 1) -> None:
        self.nc = nc
        self.replicas = replicas  # of the streams and buckets this creates, or scales up to
        self.js: JetStreamContext = nc.jetstream()
        self.names = Names(ns)
        self.feeds: set[EventFeed] = set()  # open feeds, resumed after an outage
        self._back = asyncio.Event()  # set, and replaced, each time JetStream is back
        self._down_since: float | None = None
        self._returning: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls, url: str, ns: str, *, name: str = "tessera", replicas: int = 1
    ) -> JetStreamBus:
        """Connect to `url`: one server, or a cluster's seeds comma-separated (the client
        tries each, and learns the rest of the cluster from the one it reaches)."""
        bus: JetStreamBus | None = None

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
            seeds(url),
            name=name,
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            max_reconnect_attempts=-1,
            reconnect_time_wait=RECONNECT_WAIT_S,
            ping_interval=PING_INTERVAL_S,
            max_outstanding_pings=2,
        )
        bus = cls(nc, ns, replicas=replicas)
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
                num_replicas=self.replicas,
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
                    num_replicas=self.replicas,
                )
            )

    async def _ensure(self, config: api.StreamConfig) -> None:
        name = config.name or ""
        try:
            info = await self.js.stream_info(name)
        except NotFoundError:
            try:
                await self.js.add_stream(config)
            except BadRequestError as exc:
                try:  # another service created it in between
                    info = await self.js.stream_info(name)
                except NotFoundError:
                    raise BusError(f"creating stream {name} failed: {exc}") from exc
            else:
                return
        except NATS_ERRORS as exc:
            raise BusError(f"stream {name}: {exc}") from exc
        wanted = reconcile(info.config, config)
        if wanted == info.config:
            return
        try:
            await self.js.update_stream(wanted)
        except BadRequestError as exc:
            raise BusError(f"updating stream {name} failed: {exc}") from exc
        log.info("stream_updated", stream=name, changed=changes(info.config, wanted))

    async def _scale_up(self, stream: str) -> None:
        """A bucket's stream gets `replicas` copies if it has fewer (one created before the
        cluster was, or on one node)."""
        info = await self.js.stream_info(stream)
        if (info.config.num_replicas or 1) >= self.replicas:
            return
        try:
            await self.js.update_stream(replace(info.config, num_replicas=self.replicas))
        except BadRequestError as exc:
            raise BusError(f"scaling {stream} to {self.replicas} replicas failed: {exc}") from exc
        log.info("stream_updated", stream=stream, changed={"num_replicas": self.replicas})

    async def delete_streams(self) -> None:
        names = self.names
        leases = f"KV_{names.ns}_leases"  # tessera.lease's bucket
        snapshots = f"OBJ_{names.ns}_snapshots"  # tessera.snapshots' bucket
        streams = (names.events_stream, names.tiles_stream, names.results_stream)
        for name in (*streams, leases, snapshots):
            with contextlib.suppress(NotFoundError):
                await self.js.delete_stream(name)

    async def last_sequence(self, stream: str | None = None) -> int:
        name = stream or self.names.events_stream
        try:
            info = await self.js.stream_info(name)
        except NATS_ERRORS as exc:
            raise BusError(f"reading the last sequence of {name} failed: {exc}") from exc
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
        except NATS_ERRORS as exc:
            raise BusError(f"reading the last event of {subject} failed: {exc}") from exc

    async def log_created(self) -> str:
        try:
            info = await self.js.stream_info(self.names.events_stream)
        except NATS_ERRORS as exc:
            raise BusError(f"reading the log's stream info failed: {exc}") from exc
        return info.created.isoformat() if info.created else ""

    # --- the event log ------------------------------------------------------------------

    async def append(self, event: Event, *, expected_last_subject_seq: int | None = None) -> int:
        """Append one event to the log and return its stream sequence.

        `expected_last_subject_seq` makes the append conditional on nobody having appended to the
        same subject since (0 = the subject must be empty).
        """
        subject = subject_for(event, self.names.ns)
        headers = {"Nats-Msg-Id": str(event.event_id)}
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

    # --- work queues --------------------------------------------------------------------

    async def publish_work(
        self, subject: str, payload: bytes, *, msg_id: str, headers: Headers | None = None
    ) -> int:
        try:
            ack = await self.js.publish(
                subject, payload, headers={**(headers or {}), "Nats-Msg-Id": msg_id}
            )
        except NATS_ERRORS as exc:
            raise BusError(f"publish to {subject} failed: {exc}") from exc
        return int(ack.seq)

    async def work_consumer(self, queue: WorkQueue) -> JetStreamConsumer:
        config = api.ConsumerConfig(
            durable_name=queue.durable,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=queue.ack_wait,
            max_ack_pending=queue.max_ack_pending,
            max_deliver=queue.max_deliver,
            filter_subject=queue.filter_subject,
        )
        try:
            sub = await self.js.pull_subscribe(
                queue.filter_subject, durable=queue.durable, stream=queue.stream, config=config
            )
        except NATS_ERRORS as exc:
            raise BusError(f"consumer {queue.durable} on {queue.stream}: {exc}") from exc
        return JetStreamConsumer(sub)

    async def in_flight(self, stream: str, filter_subject: str) -> dict[str, int]:
        try:
            info = await self.js.stream_info(stream, subjects_filter=filter_subject)
        except NATS_ERRORS as exc:
            raise BusError(f"{stream} stream info failed: {exc}") from exc
        return dict(info.state.subjects or {})

    # --- core NATS ----------------------------------------------------------------------

    async def announce(self, subject: str, payload: bytes) -> None:
        try:
            await self.nc.publish(subject, payload)
        except (nats.errors.Error, OSError) as exc:
            raise BusError(f"announce on {subject} failed: {exc}") from exc

    async def subscribe(self, subject: str, handler: AnnouncementHandler) -> Subscription:
        async def on_msg(msg: Msg) -> None:
            await handler(msg.subject, msg.data)

        sub: Subscription = await self.nc.subscribe(subject, cb=on_msg)
        return sub

    async def request(self, subject: str, payload: bytes, *, timeout: float = 5.0) -> bytes:
        try:
            reply = await self.nc.request(subject, payload, timeout=timeout)
        except (TimeoutError, nats.errors.NoRespondersError, nats.errors.TimeoutError) as exc:
            raise BusError(f"no answer on {subject}: {exc}") from exc
        return bytes(reply.data)

    async def serve(
        self, subject: str, handler: RequestHandler, *, queue: str = ""
    ) -> Subscription:
        async def on_request(msg: Msg) -> None:
            try:
                answer = await handler(msg.data)
            except Exception:
                log.exception("rpc_handler_failed", subject=subject)
                answer = b'{"error": "internal error"}'
            await msg.respond(answer)

        sub: Subscription = await self.nc.subscribe(subject, queue=queue, cb=on_request)
        return sub

    # --- buckets --------------------------------------------------------------------------

    async def key_value(self, bucket: str, *, ttl: float) -> JetStreamKeyValue:
        try:
            try:
                kv = await self.js.key_value(bucket)
                await self._scale_up(f"KV_{bucket}")
            except nats.js.errors.BucketNotFoundError:
                kv = await self.js.create_key_value(
                    bucket=bucket, ttl=ttl, history=1, replicas=self.replicas
                )
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise BusError(f"key-value bucket {bucket}: {exc}") from exc
        return JetStreamKeyValue(kv)

    async def object_store(self, bucket: str) -> JetStreamObjectStore:
        try:
            try:
                store = await self.js.object_store(bucket)
                await self._scale_up(f"OBJ_{bucket}")
            except nats.js.errors.BucketNotFoundError:
                config = api.ObjectStoreConfig(storage=api.StorageType.FILE, replicas=self.replicas)
                store = await self.js.create_object_store(bucket, config=config)
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise BusError(f"object store {bucket}: {exc}") from exc
        return JetStreamObjectStore(store)
