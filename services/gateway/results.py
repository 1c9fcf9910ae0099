"""Which jobs have results: SUCCEEDED jobs looked up in the read model, and remembered.

A SUCCEEDED job never changes again (an ended job stays ended, and its outputs live in its last
attempt's folder, which is never written after), so once seen it is kept in a small LRU: the
dozens of overlay tiles a viewer fetches per pan cost no database round trip, and no pooled
connection is held while a tile is drawn. Anything else (missing, another tenant's, not yet
succeeded) is asked for again each time.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import asyncpg

from tessera.errors import Conflict, NotFound
from tessera.readmodel import queries
from tessera.tiling.work import JobRef

Key = tuple[UUID, UUID, str]


@dataclass(frozen=True)
class Succeeded:
    """A SUCCEEDED job: its type, its slide (None for jobs without one) and its results folder."""

    type: str
    slide: str | None
    folder: Path


class SucceededJobs:
    def __init__(self, root: Path, max_size: int = 4096) -> None:
        self._root = root
        self._max = max_size
        self._known: OrderedDict[Key, Succeeded] = OrderedDict()

    async def get(
        self, pool: asyncpg.Pool, tenant: UUID, workflow_id: UUID, job_id: str
    ) -> Succeeded:
        """The tenant's SUCCEEDED job; NotFound (other tenants' too), Conflict until it succeeds."""
        key = (tenant, workflow_id, job_id)
        known = self._known.get(key)
        if known is not None:
            self._known.move_to_end(key)
            return known
        async with pool.acquire() as conn:
            row = await queries.job_outcome(conn, tenant, workflow_id, job_id)
        if row is None:
            raise NotFound("job", f"{workflow_id}/{job_id}")
        if row["state"] != "SUCCEEDED":
            state = row["state"]
            raise Conflict(f"job {job_id!r} has no results: it is {state}", state=state)
        attempt = row["attempt"]
        ref = JobRef(tenant_id=tenant, workflow_id=workflow_id, job_id=job_id, attempt=attempt)
        known = Succeeded(row["type"], row["slide"], ref.results_dir(self._root))
        self._known[key] = known
        while len(self._known) > self._max:
            self._known.popitem(last=False)
        return known
