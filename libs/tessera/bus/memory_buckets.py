"""The in-memory bus's key-value buckets (entries expire `ttl` after they were written, on the
bus's clock) and object stores. `reach(what)` raises when the bus is in an outage."""

from __future__ import annotations

from collections.abc import Callable

from tessera.bus.port import Entry
from tessera.errors import KeyConflict

Reach = Callable[[str], None]


def _reachable(what: str) -> None:
    return None


class MemoryKeyValue:
    """Implements `KeyValue`; entries expire `ttl` after they were written."""

    def __init__(self, clock: Callable[[], float], ttl: float, reach: Reach = _reachable) -> None:
        self._clock = clock
        self._ttl = ttl
        self._reach = reach
        self._entries: dict[str, tuple[bytes, int, float]] = {}
        self._revision = 0

    def _live(self, key: str) -> tuple[bytes, int, float] | None:
        self._reach(f"key {key}")
        entry = self._entries.get(key)
        if entry is not None and self._clock() - entry[2] >= self._ttl > 0:
            del self._entries[key]
            return None
        return entry

    def _write(self, key: str, value: bytes) -> int:
        self._revision += 1
        self._entries[key] = (value, self._revision, self._clock())
        return self._revision

    async def create(self, key: str, value: bytes) -> int:
        if self._live(key) is not None:
            raise KeyConflict(key, None)
        return self._write(key, value)

    async def get(self, key: str) -> Entry | None:
        entry = self._live(key)
        return None if entry is None else Entry(entry[0], entry[1])

    async def update(self, key: str, value: bytes, *, last: int) -> int:
        entry = self._live(key)
        if entry is None or entry[1] != last:
            raise KeyConflict(key, last)
        return self._write(key, value)

    async def delete(self, key: str, *, last: int) -> None:
        entry = self._live(key)
        if entry is None or entry[1] != last:
            raise KeyConflict(key, last)
        del self._entries[key]


class MemoryObjectStore:
    def __init__(self, reach: Reach = _reachable) -> None:
        self._objects: dict[str, bytes] = {}
        self._reach = reach

    async def get(self, name: str) -> bytes | None:
        self._reach(f"reading object {name}")
        return self._objects.get(name)

    async def put(self, name: str, data: bytes) -> None:
        self._reach(f"writing object {name}")
        self._objects[name] = bytes(data)
