"""A merger checks on start that the results waiting in RESULTS were routed with its partition
count: the tiler's TESSERA_MERGER_PARTITIONS comes from another environment."""

from __future__ import annotations

import uuid

import pytest

from tessera.bus import Bus
from tessera.merger.adapters.partitions import check_partitions
from tessera.tiling.work import JobRef, results_subject

pytestmark = pytest.mark.integration


async def test_results_routed_with_another_partition_count_are_reported(bus: Bus) -> None:
    refs = [JobRef(tenant_id=uuid.uuid4(), workflow_id=uuid.uuid4(), job_id="j", attempt=1)]
    refs += [r.model_copy(update={"job_id": f"j{i}"}) for r in refs for i in range(20)]
    ns = bus.names.ns
    for ref in refs:  # a tiler that counts four partitions
        await bus.js.publish(results_subject(ns, ref, 4), b"result")
    assert await check_partitions(bus, 4) == []
    wrong = await check_partitions(bus, 2)
    assert sorted(wrong) == sorted(
        results_subject(ns, r, 4) for r in refs if r.partition(4) != r.partition(2)
    )
    assert wrong  # some of 21 attempts land elsewhere with two partitions
