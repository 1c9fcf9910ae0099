"""What the JetStream bus hands out: work-queue messages and consumers, key-value buckets and
object stores, each mapping nats.py's errors onto Tessera's (`BusError`, `BusClosed`,
`KeyConflict`)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import nats
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import APIError
from nats.js.kv import KeyValue as NatsKeyValue
from nats.js.object_store import ObjectStore as NatsObjectStore

from tessera.bus.port import Entry, WorkMessage
from tessera.errors import BusClosed, BusError, KeyConflict

WRONG_LAST_SEQUENCE = 10071


@dataclass(frozen=True)
class JetStreamWork:
    """A work-queue message (implements `WorkMessage`)."""

    msg: Msg

    @property
    def subject(self) -> str:
        return self.msg.subject

    @property
    def data(self) -> bytes:
        return self.msg.data

    @property
    def headers(self) -> Mapping[str, str]:
        return self.msg.headers or {}

    @property
    def num_delivered(self) -> int:
        return int(self.msg.metadata.num_delivered)

    async def ack(self) -> None:
        try:
            await self.msg.ack()
        except (nats.errors.Error, OSError) as exc:
            raise BusError(f"ack on {self.subject} failed: {exc}") from exc

    async def nak(self, delay: float | None = None) -> None:
        try:
            await self.msg.nak(delay=delay)
        except (nats.errors.Error, OSError) as exc:
            raise BusError(f"nak on {self.subject} failed: {exc}") from exc

    async def term(self) -> None:
        try:
            await self.msg.term()
        except (nats.errors.Error, OSError) as exc:
            raise BusError(f"term on {self.subject} failed: {exc}") from exc

    async def in_progress(self) -> None:
        try:
            await self.msg.in_progress()
        except (nats.errors.Error, OSError) as exc:
            raise BusError(f"in progress on {self.subject} failed: {exc}") from exc


class JetStreamConsumer:
    """A pull subscription (implements `WorkConsumer`)."""

    def __init__(self, sub: JetStreamContext.PullSubscription) -> None:
        self.sub = sub

    async def fetch(self, batch: int, timeout: float) -> list[WorkMessage]:
        try:
            msgs = await self.sub.fetch(batch, timeout=timeout)
        except (TimeoutError, nats.errors.TimeoutError):
            return []  # nats.py raises on an empty pull instead of returning [] (nats.py #418)
        except nats.errors.ConnectionClosedError as exc:
            raise BusClosed(str(exc)) from exc
        except (nats.errors.Error, APIError, OSError) as exc:  # no responders, a 503, a disconnect
            raise BusError(f"fetch failed: {exc!r}") from exc
        return [JetStreamWork(m) for m in msgs]

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # else draining the connection waits on it
            await self.sub.unsubscribe()


class JetStreamKeyValue:
    """A JetStream KV bucket (implements `KeyValue`)."""

    def __init__(self, kv: NatsKeyValue) -> None:
        self.kv = kv

    async def create(self, key: str, value: bytes) -> int:
        try:
            return int(await self.kv.create(key, value))
        except nats.js.errors.KeyWrongLastSequenceError as exc:
            raise KeyConflict(key, None) from exc
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise BusError(f"creating {key} failed: {exc}") from exc

    async def get(self, key: str) -> Entry | None:
        try:
            entry = await self.kv.get(key)
        except nats.js.errors.NotFoundError:  # never written, expired, or deleted
            return None
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise BusError(f"reading {key} failed: {exc}") from exc
        if entry.revision is None:
            return None
        return Entry(entry.value or b"", int(entry.revision))

    async def update(self, key: str, value: bytes, *, last: int) -> int:
        try:
            return int(await self.kv.update(key, value, last=last))
        except nats.js.errors.KeyWrongLastSequenceError as exc:
            raise KeyConflict(key, last) from exc
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise BusError(f"updating {key} failed: {exc}") from exc

    async def delete(self, key: str, *, last: int) -> None:
        try:
            await self.kv.delete(key, last=last)
        except nats.js.errors.KeyWrongLastSequenceError as exc:
            raise KeyConflict(key, last) from exc
        except APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:  # delete does not use the KV error
                raise KeyConflict(key, last) from exc
            raise BusError(f"deleting {key} failed: {exc}") from exc
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise BusError(f"deleting {key} failed: {exc}") from exc


class JetStreamObjectStore:
    """A JetStream object store (implements `ObjectStore`)."""

    def __init__(self, store: NatsObjectStore) -> None:
        self.store = store

    async def get(self, name: str) -> bytes | None:
        try:
            return (await self.store.get(name)).data or b""
        except nats.js.errors.NotFoundError:
            return None
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise BusError(f"reading object {name} failed: {exc}") from exc

    async def put(self, name: str, data: bytes) -> None:
        try:
            await self.store.put(name, data)
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise BusError(f"writing object {name} failed: {exc}") from exc
