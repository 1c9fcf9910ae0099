"""Admission process: wiring only (settings, the bus, the decider loop while this replica holds
the lease, drain on SIGTERM)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tessera.lease import lead
from tessera.service import Runtime, run_service
from tessera.snapshots import Snapshots, fingerprint

from .domain import AdmissionState
from .handlers import Admission
from .settings import AdmissionSettings


def main() -> None:
    settings = AdmissionSettings()

    async def serve(rt: Runtime[AdmissionSettings]) -> None:
        rt.ready = True  # a standby is healthy too; tessera_leader{role} tells who decides

        async def decide(stop: asyncio.Event) -> None:  # afresh each time it leads
            state = AdmissionState(
                max_active_tenants=settings.max_active_tenants,
                retention=timedelta(seconds=settings.finished_retention_s),
            )
            every = settings.snapshot_every
            snapshots = Snapshots(rt.bus, "admission", fingerprint(AdmissionState), every)
            await Admission(rt.bus, state, snapshots=snapshots).run(stop)

        await lead(rt.bus, "admission", rt.stop, decide, ttl_s=settings.lease_ttl_s)

    asyncio.run(run_service("admission", serve, settings))


if __name__ == "__main__":
    main()
