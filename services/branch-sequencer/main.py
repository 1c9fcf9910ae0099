"""Branch-sequencer process: wiring only (settings, the bus, the decider loop while this replica
holds the lease, drain on SIGTERM)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tessera.lease import lead
from tessera.service import Runtime, run_service
from tessera.snapshots import Snapshots, fingerprint

from .domain import SequencerState
from .handlers import Sequencer
from .settings import SequencerSettings


def build(settings: SequencerSettings, rt: Runtime[SequencerSettings]) -> Sequencer:
    initial = SequencerState(
        max_workers=settings.max_workers,
        retry_base=timedelta(seconds=settings.retry_base_s),
        retry_cap=timedelta(seconds=settings.retry_cap_s),
        retention=timedelta(seconds=settings.finished_retention_s),
        stall_after=timedelta(seconds=settings.stall_after_s),
    )
    snapshots = Snapshots(
        rt.bus, "branch-sequencer", fingerprint(SequencerState), settings.snapshot_every
    )
    return Sequencer(rt.bus, initial, snapshots=snapshots)


def main() -> None:
    settings = SequencerSettings()

    async def serve(rt: Runtime[SequencerSettings]) -> None:
        rt.ready = True  # a standby is healthy too; tessera_leader{role} tells who decides

        async def decide(stop: asyncio.Event) -> None:  # afresh each time it leads
            await build(settings, rt).run(stop)

        await lead(rt.bus, "branch-sequencer", rt.stop, decide, ttl_s=settings.lease_ttl_s)

    asyncio.run(run_service("branch-sequencer", serve, settings))


if __name__ == "__main__":
    main()
