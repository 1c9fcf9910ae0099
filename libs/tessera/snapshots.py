"""Snapshots of a fold of the log, so that a restart reads only the log's tail.

Every service that folds the event log (admission, the branch-sequencer, the tiler, the mergers)
rebuilds its state on start by reading the log. Without snapshots that is the whole log, which
grows for as long as the deployment lives. With them, the service saves its folded state every
`TESSERA_SNAPSHOT_EVERY` events (and on a clean stop) into the `<ns>_snapshots` JetStream object
store, one object per role; on start it loads the object and reads the log from the sequence after
it. A snapshot is only ever a faster way to the same state: the state after folding events
1..N is the same whether it was folded now or unpickled.

A snapshot is used only when all of these hold, otherwise the service folds the whole log:
- it was written for the same state: its fingerprint hashes the state's schema version (an
  explicit `SCHEMA_VERSION` beside the state class, bumped when what the fold means changes) and
  the state's shape (`describe`: every class it holds, recursively, with its fields and their
  types, enums with their members; another Python too). A comment or a refactoring of the fold
  keeps snapshots; a new field, a changed type or a new enum member anywhere in the state
  (`tessera.workflows`' included) makes them stale, and `tests/unit/test_snapshot_shapes.py`
  fails until the version is bumped and the new shape recorded;
- it was taken from this very stream (the stream's creation time matches, so a log that was
  deleted and made again does not inherit an old state) and not past the stream's end.

The payload is a pickle. It is written and read only by Tessera's own services on the cluster's
own NATS, where whoever can write to the object store can append to the event log anyway; it is
never taken from a client.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import hashlib
import json
import pickle
import struct
import sys
import time
import types
import typing
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import nats.js.errors
import pydantic
import structlog
from nats.js.api import ObjectStoreConfig, StorageType
from nats.js.object_store import ObjectStore

from tessera import telemetry
from tessera.bus import Bus

log = structlog.get_logger(__name__)

MAGIC = b"TSNAP1\n"
FORMAT = 1


def fingerprint(state: type) -> str:
    """What a snapshot of `state` is valid for: its `SCHEMA_VERSION`, its shape, the Python."""
    version = int(state.SCHEMA_VERSION)  # type: ignore[attr-defined]
    described = json.dumps(describe(state), sort_keys=True)
    text = f"{FORMAT} {sys.version_info[:2]} {version} {described}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def describe(root: type) -> dict[str, Any]:
    """The shape of a state class: every dataclass, pydantic model and enum it holds
    (recursively, by qualified name) with its fields and their types, or its members. Other
    classes (datetime, UUID, OrderedDict, ...) are named, not opened."""
    shapes: dict[str, Any] = {}

    def ref(tp: Any) -> Any:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is typing.Literal:
            return {"literal": [repr(a) for a in args]}
        if origin is typing.ClassVar:
            return None
        if origin is typing.Annotated:
            return ref(args[0])
        if origin in (typing.Union, types.UnionType):
            return {"union": [ref(a) for a in args]}
        if origin is not None:
            return [ref(origin), *(ref(a) for a in args)]
        if tp is None or tp is type(None):
            return "None"
        if tp is Ellipsis:
            return "..."
        if not isinstance(tp, type):
            return repr(tp)
        name = f"{tp.__module__}.{tp.__qualname__}"
        if name not in shapes and (shape := opened(tp)) is not None:
            shapes[name] = None  # a class that holds itself refers to its name
            shapes[name] = shape()
        return name

    def opened(tp: type) -> Callable[[], Any] | None:
        if issubclass(tp, enum.Enum):
            return lambda: {"enum": {m.name: repr(m.value) for m in tp}}
        if dataclasses.is_dataclass(tp):
            return lambda: fields(tp, [f.name for f in dataclasses.fields(tp)])
        if issubclass(tp, pydantic.BaseModel):
            return lambda: fields(tp, list(tp.model_fields))
        return None

    def fields(tp: type, names: list[str]) -> Any:
        hints = typing.get_type_hints(tp, include_extras=True)
        return {"fields": {n: ref(hints[n]) for n in names}}

    ref(root)
    return shapes


@dataclass(frozen=True)
class Restored:
    state: Any
    last_seq: int
    extra: Any


def adopt(saved: Any, fresh: Any, settings: Iterable[str]) -> Any:
    """The saved state (a dataclass) with this run's settings, e.g. a changed MAX_WORKERS."""
    return dataclasses.replace(saved, **{name: getattr(fresh, name) for name in settings})


def encode(meta: dict[str, Any], payload: bytes) -> bytes:
    head = json.dumps(meta, sort_keys=True).encode()
    return MAGIC + struct.pack(">I", len(head)) + head + zlib.compress(payload, 1)


def decode_meta(blob: bytes) -> tuple[dict[str, Any], int]:
    """The metadata and where the compressed payload starts; ValueError if it is not a snapshot."""
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 4:
        raise ValueError("not a Tessera snapshot")
    (size,) = struct.unpack_from(">I", blob, len(MAGIC))
    start = len(MAGIC) + 4
    meta = json.loads(blob[start : start + size])
    if not isinstance(meta, dict):
        raise ValueError("snapshot metadata is not an object")
    return meta, start + size


class Snapshots:
    """Load a role's snapshot once on start; then save every `every` events, one at a time."""

    def __init__(self, bus: Bus, role: str, fingerprint: str, every: int) -> None:
        self.bus = bus
        self.role = role
        self.fingerprint = fingerprint
        self.every = every
        self.saved_seq = 0  # the sequence the newest snapshot (loaded or saved) was taken at
        self.loaded_seq = 0  # the sequence of the snapshot this run started from; 0 = none
        self._store: ObjectStore | None = None
        self._saving: asyncio.Task[None] | None = None

    @property
    def bucket(self) -> str:
        return f"{self.bus.names.ns}_snapshots"

    async def _objects(self) -> ObjectStore:
        if self._store is None:
            try:
                self._store = await self.bus.js.object_store(self.bucket)
            except nats.js.errors.BucketNotFoundError:
                config = ObjectStoreConfig(storage=StorageType.FILE)
                self._store = await self.bus.js.create_object_store(self.bucket, config=config)
        return self._store

    async def _stream(self) -> tuple[str, int]:
        info = await self.bus.js.stream_info(self.bus.names.events_stream)
        return (info.created.isoformat() if info.created else ""), int(info.state.last_seq)

    async def load(self) -> Restored | None:
        """The saved state if it is valid for this code and this log, else None (fold from 1)."""
        if self.every <= 0:
            return None
        started = time.perf_counter()
        try:
            blob = (await (await self._objects()).get(self.role)).data or b""
            meta, start = decode_meta(blob)
        except nats.js.errors.NotFoundError:
            return None
        except (nats.errors.Error, ValueError) as exc:
            log.warning("snapshot_unreadable", role=self.role, error=str(exc))
            return None
        created, last_seq = await self._stream()
        why = (
            "written by other code" if meta.get("fingerprint") != self.fingerprint
            else "taken from another log" if meta.get("stream_created") != created
            else "ahead of the log" if int(meta.get("last_seq", 0)) > last_seq
            else None
        )  # fmt: skip
        if why is not None:
            log.info("snapshot_ignored", role=self.role, why=why, seq=meta.get("last_seq"))
            return None
        try:
            state, extra = await asyncio.to_thread(_unpickle, blob, start)
        except Exception as exc:  # a payload that does not load is a stale one: fold from 1
            log.warning("snapshot_unreadable", role=self.role, error=repr(exc))
            return None
        self.saved_seq = self.loaded_seq = int(meta["last_seq"])
        telemetry.SNAPSHOT_SEQ.labels(role=self.role).set(self.saved_seq)
        log.info(
            "snapshot_loaded",
            role=self.role,
            seq=self.saved_seq,
            bytes=len(blob),
            seconds=round(time.perf_counter() - started, 3),
        )
        return Restored(state, self.saved_seq, extra)

    def observe(self, last_seq: int, capture: Callable[[], tuple[object, object]]) -> None:
        """Called after folding up to `last_seq`: starts a save when `every` events have passed.

        `capture` returns (state, extra) and is pickled at once, in the caller's task, so the
        snapshot is exactly the fold up to `last_seq`; compression and upload run in the
        background, one save at a time.
        """
        if self.every <= 0 or last_seq - self.saved_seq < self.every:
            return
        if self._saving is not None and not self._saving.done():
            return
        payload = pickle.dumps(capture(), protocol=pickle.HIGHEST_PROTOCOL)
        self.saved_seq = last_seq
        self._saving = asyncio.create_task(self._put(last_seq, payload))

    async def save(self, last_seq: int, capture: Callable[[], tuple[object, object]]) -> None:
        """Save now and wait for it (a clean stop), unless nothing was folded since the last."""
        if self._saving is not None:
            await asyncio.gather(self._saving, return_exceptions=True)
        if self.every <= 0 or last_seq <= self.saved_seq:
            return
        payload = pickle.dumps(capture(), protocol=pickle.HIGHEST_PROTOCOL)
        self.saved_seq = last_seq
        await self._put(last_seq, payload)

    async def _put(self, last_seq: int, payload: bytes) -> None:
        started = time.perf_counter()
        try:
            created, _ = await self._stream()
            meta = {
                "format": FORMAT,
                "fingerprint": self.fingerprint,
                "stream_created": created,
                "last_seq": last_seq,
                "saved_at": time.time(),
            }
            blob = await asyncio.to_thread(encode, meta, payload)
            await (await self._objects()).put(self.role, blob)
        except Exception as exc:  # a snapshot only saves time: never let one stop the service
            log.warning("snapshot_failed", role=self.role, seq=last_seq, error=repr(exc))
            return
        telemetry.SNAPSHOT_SEQ.labels(role=self.role).set(last_seq)
        log.info(
            "snapshot_saved",
            role=self.role,
            seq=last_seq,
            bytes=len(blob),
            seconds=round(time.perf_counter() - started, 3),
        )


def _unpickle(blob: bytes, start: int) -> tuple[Any, Any]:
    state, extra = pickle.loads(zlib.decompress(blob[start:]))
    return state, extra
