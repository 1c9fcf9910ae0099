"""Two tiler replicas on real NATS: one plans each job, the other stands by on the `tiler` lease;
killed, the leader's role passes to the standby once its key expires, and the job finishes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tessera.tiler import handlers as tiler_handlers
from tessera.workflows import JobSpec
from tests.integration.dataplane.conftest import DataPlane, of_type

pytestmark = pytest.mark.integration

LEASE_TTL_S = 2.0  # dp_base's


class Plans:
    """Counts the slides planned by every tiler in this process, and when each was."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.at: list[float] = []
        plan_job = tiler_handlers.plan_job

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.at.append(time.perf_counter())
            return plan_job(*args, **kwargs)

        monkeypatch.setattr(tiler_handlers, "plan_job", counted)

    async def until(self, count: int, timeout: float) -> float:
        deadline = time.perf_counter() + timeout
        while len(self.at) < count:
            assert time.perf_counter() < deadline, f"{len(self.at)} plans, waited for {count}"
            await asyncio.sleep(0.02)
        return self.at[count - 1]


def synthetic(tiles: int, seconds_per_tile: float) -> JobSpec:
    params = {"tiles": tiles, "seconds_per_tile": seconds_per_tile}
    return JobSpec(id="load", type="synthetic", params=params)


async def test_two_tilers_plan_each_job_once_and_the_standby_takes_over_from_a_killed_leader(
    dataplane: DataPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans = Plans(monkeypatch)
    await dataplane.merger()
    await dataplane.inference()
    leader = await dataplane.tiler(window=2, batch_tiles=4)
    tenant, workflow = await dataplane.submit(synthetic(8, 0.01))
    await dataplane.finished(tenant, workflow)  # planned by the only tiler: the leader
    await dataplane.tiler(window=2, batch_tiles=4)  # the standby

    for _ in range(3):
        tenant, workflow = await dataplane.submit(synthetic(8, 0.01))
        [done] = of_type(await dataplane.finished(tenant, workflow), "JobSucceeded")
        assert done.summary["tiles_done"] == 8
    assert len(plans.at) == 4  # one per job: the standby planned none

    tenant, workflow = await dataplane.submit(synthetic(200, 0.02))  # ~4 s of tiles
    await dataplane.events(
        tenant, workflow, until=lambda seen: bool(of_type(seen, "JobProgressed"))
    )
    assert len(plans.at) == 5
    await leader.kill()  # the connection goes first: its lease is not released, it expires
    killed = time.perf_counter()
    taken_over = await plans.until(6, timeout=LEASE_TTL_S * 3)
    print(f"tiler leader killed: the standby planned {taken_over - killed:.2f} s later")
    assert taken_over - killed >= LEASE_TTL_S / 2  # not before the key could have expired

    events = await dataplane.finished(tenant, workflow)
    [done] = of_type(events, "JobSucceeded")
    assert done.summary["tiles_done"] == done.summary["tiles_total"] == 200
    progressed = [e.tiles_done for e in of_type(events, "JobProgressed")]
    assert progressed == sorted(progressed)
    assert len(plans.at) == 6
