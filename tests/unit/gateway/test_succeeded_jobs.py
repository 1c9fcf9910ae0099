"""The gateway's index of SUCCEEDED jobs: looked up once, then remembered, per tenant."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tessera.errors import Conflict, NotFound
from tessera.gateway.results import SucceededJobs

TENANT, OTHER, WF = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


class FakePool:
    """Rows of the jobs table by (tenant, workflow, job); counts the lookups."""

    def __init__(self) -> None:
        self.rows: dict[tuple[uuid.UUID, uuid.UUID, str], dict[str, Any]] = {}
        self.lookups = 0

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakePool]:
        yield self

    async def fetchrow(self, _sql: str, tenant: uuid.UUID, wf: uuid.UUID, job: str) -> Any:
        self.lookups += 1
        return self.rows.get((tenant, wf, job))


async def test_a_succeeded_job_is_looked_up_once_and_only_for_its_tenant(tmp_path: Path) -> None:
    pool, jobs = FakePool(), SucceededJobs(tmp_path, max_size=2)
    pool.rows[TENANT, WF, "a"] = {"state": "RUNNING", "type": "tissue_mask", "slide": "s.svs",
                                  "attempt": 2}  # fmt: skip
    with pytest.raises(Conflict) as running:
        await jobs.get(pool, TENANT, WF, "a")  # type: ignore[arg-type]
    assert running.value.state == "RUNNING"
    pool.rows[TENANT, WF, "a"]["state"] = "SUCCEEDED"  # not remembered until it succeeded
    found = await jobs.get(pool, TENANT, WF, "a")  # type: ignore[arg-type]
    assert (found.type, found.slide) == ("tissue_mask", "s.svs")
    assert found.folder == tmp_path / str(TENANT) / str(WF) / "a" / "attempt-2"
    assert await jobs.get(pool, TENANT, WF, "a") == found  # type: ignore[arg-type]
    assert pool.lookups == 2
    with pytest.raises(NotFound):  # the same ids from another tenant: asked, and not there
        await jobs.get(pool, OTHER, WF, "a")  # type: ignore[arg-type]
    assert pool.lookups == 3
    for job in ("b", "c"):  # an LRU: the oldest goes first
        pool.rows[TENANT, WF, job] = {**pool.rows[TENANT, WF, "a"], "attempt": 1}
        await jobs.get(pool, TENANT, WF, job)  # type: ignore[arg-type]
    await jobs.get(pool, TENANT, WF, "a")  # type: ignore[arg-type]
    assert pool.lookups == 6
