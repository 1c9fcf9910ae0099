"""Batches of events → one PostgreSQL transaction (with the checkpoint) → view announcements."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import asyncpg
import structlog

from tessera import telemetry
from tessera.bus import Bus, Envelope
from tessera.errors import BusError
from tessera.projector.adapters import store
from tessera.projector.domain import JobTiming, RateWindows

log = structlog.get_logger(__name__)

BEHIND_EVERY_S = 1.0  # how often the log's end is read for tessera_projector_behind_events


class Projector:
    """Applies the log to the read models, exactly once per event thanks to the checkpoint."""

    def __init__(self, bus: Bus, pool: asyncpg.Pool) -> None:
        self.bus = bus
        self.pool = pool
        self.last_seq = 0
        self.windows = RateWindows()

    async def load_checkpoint(self) -> int:
        async with self.pool.acquire() as conn:
            self.last_seq = await store.checkpoint(conn)
        return self.last_seq

    async def apply_batch(self, batch: list[Envelope]) -> None:
        changed: dict[str, set[Any]] = {}
        timings: list[JobTiming] = []
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                # events the checkpoint already covers were applied (a redelivered batch):
                # skip them. A plain read, not a lock: one projector runs per deployment
                current = await store.checkpoint(conn)
                fresh = [env for env in batch if env.seq > current]
                if not fresh:
                    return
                for env in fresh:
                    with structlog.contextvars.bound_contextvars(**telemetry.ids_of(env.event)):
                        hit = await store.apply(conn, env, timings, self.windows)
                    if hit is not None:
                        changed.setdefault(hit[0], set()).add(hit[1])
                await store.set_checkpoint(conn, fresh[-1].seq)
        except BaseException:
            self.windows.clear()  # they may hold samples of the batch rolled back
            raise
        self.last_seq = fresh[-1].seq
        telemetry.EVENTS_APPLIED.labels(consumer="projector").inc(len(fresh))
        telemetry.PROJECTOR_LAG.set(self.last_seq)
        for timing in timings:  # committed: each observed once (a rolled back batch comes again)
            histogram = telemetry.JOB_QUEUED if timing.phase == "queued" else telemetry.JOB_LATENCY
            histogram.labels(type=timing.job_type).observe(timing.seconds)
        await self.announce(changed)

    async def announce(self, changed: dict[str, set[Any]]) -> None:
        """Tell the gateway which workflows of which tenant changed (it reads the new rows), and
        how far the read models now reach (reads that carry a consistency token wait for it)."""
        for tenant, workflows in changed.items():
            payload = {"seq": self.last_seq, "workflow_ids": sorted(str(w) for w in workflows)}
            await self.bus.announce(self.bus.names.view(tenant), json.dumps(payload).encode())
        projected = json.dumps({"seq": self.last_seq}).encode()
        await self.bus.announce(self.bus.names.projected, projected)

    async def run(self, stop: asyncio.Event, *, until_seq: int | None = None) -> None:
        """Follow the log from the checkpoint until `stop` (or until `until_seq` is applied)."""
        start = await self.load_checkpoint() + 1
        measured = -BEHIND_EVERY_S
        async with self.bus.feed(start_seq=start) as feed:
            while not stop.is_set():
                if until_seq is not None and self.last_seq >= until_seq:
                    return
                batch = await feed.batch(max_size=500, timeout=0.25)
                if batch:
                    await self.apply_batch(batch)
                if (now := time.monotonic()) - measured >= BEHIND_EVERY_S:
                    measured = now
                    await self.measure_behind()

    async def measure_behind(self) -> None:
        """How many events the log holds past the checkpoint (the projector falling behind)."""
        with contextlib.suppress(BusError, TimeoutError, OSError):
            behind = await self.bus.last_sequence() - self.last_seq
            telemetry.PROJECTOR_BEHIND.set(max(0, behind))
