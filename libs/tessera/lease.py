"""Leadership of a role (admission, branch-sequencer) over NATS KV, so replicas can stand by.

A decider's global caps (active tenants, `MAX_WORKERS`) span many log subjects, which the
per-subject expected-sequence check on appends cannot guard; so only one replica of each decider
may decide at a time. The leader holds the key `<role>` in the `<ns>_leases` bucket, whose
messages expire `ttl_s` after they were written: it renews every `ttl_s / 3` with a
compare-and-set on the revision it holds. A standby tries to create the key every `ttl_s / 3`,
which succeeds only once the key is gone: released by the leader on a clean stop, or expired
when the leader died or lost NATS.

A leader that cannot renew for `ttl_s / 2` (or finds the key taken) counts its lease as lost and
must stop deciding at once; it stops before the key can expire and another replica can start, so
two replicas never decide at the same time, clock drift within `ttl_s / 2` allowed. A deposed
decider's last append in flight is still checked by the log's per-subject sequences.

After a NATS outage both loops act as soon as JetStream is back (`Bus.until_reconnected`), not at
their next period: the leader renews at once, and a leader that lost its lease to the outage
takes it back if the key still names it (its holder id is unique; a renewal that timed out may
still have been written when the connection came back), with a compare-and-set on the revision
it read, so it leads again within a moment of the server's return instead of waiting for the key
to expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog

from tessera import telemetry
from tessera.bus import Bus, KeyValue
from tessera.errors import BusError, KeyConflict

log = structlog.get_logger(__name__)


class Lease:
    """One replica's claim on a role; `acquire`, then `keep` while working, then `release`."""

    def __init__(self, bus: Bus, role: str, *, ttl_s: float = 10.0) -> None:
        self.bus = bus
        self.role = role
        self.ttl_s = ttl_s
        self.holder = json.dumps(
            {"host": socket.gethostname(), "pid": os.getpid(), "id": uuid.uuid4().hex[:12]}
        ).encode()
        self.revision: int | None = None
        self.lapsed = False  # an outage cost this replica the lease: the key may still be its
        self._kv: KeyValue | None = None
        telemetry.LEADER.labels(role=role).set(0)  # standing by until acquired

    @property
    def bucket(self) -> str:
        return f"{self.bus.names.ns}_leases"

    async def _store(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self.bus.key_value(self.bucket, ttl=self.ttl_s)
        return self._kv

    async def try_acquire(self) -> bool:
        """Take the role if nobody holds it; False if another replica does."""
        kv = await self._store()
        lapsed, self.lapsed = self.lapsed, False
        try:
            revision = await self._regain(kv) if lapsed else None
            if revision is None:
                revision = await kv.create(self.role, self.holder)
        except KeyConflict:
            return False
        except BaseException:
            self.lapsed = True  # a write that timed out may have landed: look at the key next time
            raise
        self.revision = revision
        telemetry.LEADER.labels(role=self.role).set(1)
        log.info("lease_acquired", role=self.role, regained=lapsed)
        return True

    async def _regain(self, kv: KeyValue) -> int | None:
        """Renew the key if it still names this replica; None if it does not (or is gone)."""
        entry = await kv.get(self.role)
        if entry is None:  # expired or released: `create` takes it
            return None
        if entry.value != self.holder:
            return None  # another replica's: `create` refuses
        with contextlib.suppress(KeyConflict):
            return int(await kv.update(self.role, self.holder, last=entry.revision))
        return None

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait until this replica holds the role (True) or `stop` is set (False)."""
        while not stop.is_set():
            if self.bus.connected:  # a request sent during an outage waits out its timeout
                with contextlib.suppress(BusError, OSError, TimeoutError):
                    if await asyncio.wait_for(self.try_acquire(), self.ttl_s / 3):
                        return True
            await _first_of_or_timeout(stop, self.bus, self.ttl_s / 3)
        return False

    async def keep(self, lost: asyncio.Event) -> None:
        """Renew until cancelled; sets `lost` (and returns) once the role may be someone else's."""
        kv = await self._store()
        renewed = time.monotonic()
        while True:
            await self.bus.until_reconnected(self.ttl_s / 3)  # at once when NATS is back
            try:
                self.revision = await asyncio.wait_for(
                    kv.update(self.role, self.holder, last=self.revision or 0), self.ttl_s / 3
                )
                renewed = time.monotonic()
            except KeyConflict:
                log.warning("lease_taken", role=self.role)
                break
            except (TimeoutError, BusError, OSError) as exc:
                if time.monotonic() - renewed >= self.ttl_s / 2:
                    error = str(exc) or type(exc).__name__
                    log.warning("lease_expiring", role=self.role, error=error)
                    self.lapsed = True
                    break
        self.revision = None
        telemetry.LEADER.labels(role=self.role).set(0)
        lost.set()

    async def release(self) -> None:
        """Give the role up now (a standby takes over at its next try, not after the TTL)."""
        if self.revision is None:
            return
        revision, self.revision = self.revision, None
        telemetry.LEADER.labels(role=self.role).set(0)
        with contextlib.suppress(BusError, OSError, TimeoutError):
            kv = await self._store()
            await kv.delete(self.role, last=revision)
            log.info("lease_released", role=self.role)


async def lead(
    bus: Bus,
    role: str,
    stop: asyncio.Event,
    work: Callable[[asyncio.Event], Awaitable[None]],
    *,
    ttl_s: float = 10.0,
) -> None:
    """Run `work(stop_work)` whenever this replica holds `role`, until `stop`.

    `work` gets an event that is set on `stop` or when the lease is lost; it must then return
    promptly. After a loss the replica stands by again and, when it leads anew, calls `work`
    afresh (a decider rebuilds its state from the log). Once `work` returns, the gauges the
    role reports while leading are cleared (`telemetry.DECIDER_GAUGES`).
    """
    lease = Lease(bus, role, ttl_s=ttl_s)
    while await lease.acquire(stop):
        lost = asyncio.Event()
        keeper = asyncio.create_task(lease.keep(lost))
        stop_work = asyncio.Event()
        relay = asyncio.create_task(_first_of(stop, lost, then=stop_work))
        try:
            await work(stop_work)
        finally:
            relay.cancel()
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            await lease.release()
            telemetry.clear_decider_gauges(role)  # the next leader reports its own


async def _first_of_or_timeout(stop: asyncio.Event, bus: Bus, timeout: float) -> None:
    """Return on `stop`, when JetStream is back after an outage, or after `timeout`."""
    waits = [asyncio.create_task(stop.wait()), asyncio.create_task(bus.until_reconnected(timeout))]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def _first_of(*events: asyncio.Event, then: asyncio.Event) -> None:
    waits = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        then.set()
    finally:
        for w in waits:
            w.cancel()
