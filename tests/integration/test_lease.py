"""One replica of a decider at a time: the lease over NATS KV (tessera.lease)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import pytest

from tessera.bus import Bus
from tessera.lease import Lease, lead

pytestmark = pytest.mark.integration

TTL = 1.5


async def test_one_holder_at_a_time_and_a_release_hands_over(bus: Bus) -> None:
    a, b = Lease(bus, "admission", ttl_s=TTL), Lease(bus, "admission", ttl_s=TTL)
    assert await a.try_acquire()
    assert not await b.try_acquire()
    assert await Lease(bus, "branch-sequencer", ttl_s=TTL).try_acquire()  # roles are apart
    await a.release()
    assert await b.try_acquire()
    assert not await a.try_acquire()


async def test_a_kept_lease_outlives_its_ttl_and_a_dead_holders_expires(bus: Bus) -> None:
    a, b = Lease(bus, "admission", ttl_s=TTL), Lease(bus, "admission", ttl_s=TTL)
    assert await a.try_acquire()
    lost = asyncio.Event()
    keeper = asyncio.create_task(a.keep(lost))
    await asyncio.sleep(TTL * 2)  # renewed all along
    assert not lost.is_set() and not await b.try_acquire()
    keeper.cancel()  # the holder dies: no renewal, no release
    with contextlib.suppress(asyncio.CancelledError):
        await keeper
    died = time.monotonic()
    assert await asyncio.wait_for(b.acquire(asyncio.Event()), TTL * 4)
    assert time.monotonic() - died < TTL * 2  # the key expired, then the next try took it


async def test_a_holder_that_was_replaced_notices_and_stops(bus: Bus) -> None:
    a, b = Lease(bus, "admission", ttl_s=TTL), Lease(bus, "admission", ttl_s=TTL)
    assert await a.try_acquire()
    kv = await bus.js.key_value(a.bucket)
    await kv.delete("admission")  # as if it had expired while `a` was cut off
    assert await b.try_acquire()
    lost = asyncio.Event()
    await asyncio.wait_for(a.keep(lost), TTL * 2)
    assert lost.is_set() and a.revision is None


async def test_work_runs_on_one_replica_at_a_time_and_moves_on_a_stop(bus: Bus) -> None:
    working: list[str] = []
    overlaps: list[list[str]] = []
    started = {"a": asyncio.Event(), "b": asyncio.Event()}

    def replica(name: str) -> Callable[[asyncio.Event], Awaitable[None]]:
        async def work(stop: asyncio.Event) -> None:
            working.append(name)
            if len(working) > 1:
                overlaps.append(list(working))
            started[name].set()
            try:
                await stop.wait()
            finally:
                working.remove(name)

        return work

    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(lead(bus, "branch-sequencer", stop_a, replica("a"), ttl_s=TTL))
    await asyncio.wait_for(started["a"].wait(), TTL * 2)
    task_b = asyncio.create_task(lead(bus, "branch-sequencer", stop_b, replica("b"), ttl_s=TTL))
    await asyncio.sleep(TTL * 1.5)  # b stands by while a renews
    assert not started["b"].is_set()
    stop_a.set()
    await asyncio.wait_for(task_a, TTL)  # a stops working and releases the role
    await asyncio.wait_for(started["b"].wait(), TTL * 2)  # b takes it at its next try
    stop_b.set()
    await asyncio.wait_for(task_b, TTL)
    assert overlaps == [] and working == []


async def test_a_leader_that_loses_its_lease_stops_reporting_the_roles_gauges(bus: Bus) -> None:
    from prometheus_client import REGISTRY

    from tessera import telemetry

    reported = asyncio.Event()

    async def work(stop_work: asyncio.Event) -> None:  # a sequencer's figures while it leads
        if not reported.is_set():  # once: when it leads again (the other lease expires), not
            telemetry.WORKER_ACTIVE_JOBS.set(7)
            telemetry.set_lane_depths([("t", "cells", 3)])
            reported.set()
        await stop_work.wait()

    stop = asyncio.Event()
    leader = asyncio.create_task(lead(bus, "branch-sequencer", stop, work, ttl_s=TTL))
    await asyncio.wait_for(reported.wait(), TTL * 4)
    assert REGISTRY.get_sample_value("tessera_worker_active_jobs") == 7
    kv = await bus.js.key_value(f"{bus.names.ns}_leases")
    await kv.delete("branch-sequencer")  # as if it had expired while the leader was cut off
    await Lease(bus, "branch-sequencer", ttl_s=TTL).try_acquire()  # another replica took it
    deadline = time.monotonic() + TTL * 4
    while REGISTRY.get_sample_value("tessera_worker_active_jobs") != 0:
        assert time.monotonic() < deadline, "the deposed leader still reports its figures"
        await asyncio.sleep(0.05)
    labels = {"tenant": "t", "branch": "cells"}
    assert REGISTRY.get_sample_value("tessera_branch_queue_depth", labels) is None
    stop.set()
    await asyncio.wait_for(leader, TTL * 4)


async def test_a_holder_that_lost_its_lease_to_an_outage_takes_it_back_if_still_its(
    bus: Bus,
) -> None:
    a, b = Lease(bus, "admission", ttl_s=TTL), Lease(bus, "admission", ttl_s=TTL)
    assert await a.try_acquire()
    a.revision, a.lapsed = None, True  # as `keep` leaves it when NATS was away too long
    assert await a.try_acquire()  # nobody wrote the key meanwhile: at once, not after expiry
    assert not await b.try_acquire()
    a.revision, a.lapsed = None, True
    await asyncio.sleep(TTL * 1.5)  # expired meanwhile, and taken by another replica
    assert await b.try_acquire()
    assert not await a.try_acquire() and not a.lapsed
