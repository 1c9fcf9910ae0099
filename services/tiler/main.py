"""Tiler process: JobStarted → JobPlanned + tile batches on TILES, one window for all jobs.

Replicas beyond the first stand by: only the holder of the `tiler` lease plans and publishes
(`tessera.lease`, as the deciders), so two replicas never plan one attempt twice and never pour
two windows into TILES. A standby that takes over folds the log afresh and resumes every running
attempt from the mergers' tiles-done ledgers.
"""

from __future__ import annotations

import asyncio

from tessera.lease import lead
from tessera.service import Runtime, run_service
from tessera.tiler.adapters.models import ModelInfoCache
from tessera.tiler.handlers import Tiler
from tessera.tiler.settings import TilerSettings

ROLE = "tiler"


async def serve(rt: Runtime[TilerSettings]) -> None:
    rt.ready = True  # a standby is healthy too; tessera_leader{role="tiler"} tells who plans
    models = ModelInfoCache()  # model facts outlive a lost lease

    async def plan(stop: asyncio.Event) -> None:  # afresh each time it leads
        await Tiler(rt.bus, rt.settings, models).run(stop)

    await lead(rt.bus, ROLE, rt.stop, plan, ttl_s=rt.settings.lease_ttl_s)


def main() -> None:
    asyncio.run(run_service("tiler", serve, TilerSettings()))


if __name__ == "__main__":
    main()
