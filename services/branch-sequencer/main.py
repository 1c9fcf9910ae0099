"""Branch-sequencer process: wiring only (settings, the bus, the decider loop while this replica
holds the lease, drain on SIGTERM)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tessera.lease import lead
from tessera.service import Runtime, run_service
from tessera.settings import Settings
from tessera.snapshots import Snapshots, fingerprint

from . import domain, state
from .domain import SequencerState
from .handlers import APPEND_IN_FLIGHT, Sequencer


class SequencerSettings(Settings):
    """Shared settings (MAX_WORKERS among them) plus the retry backoff and the stall deadline."""

    model_config = SettingsConfigDict(
        env_prefix="TESSERA_SEQUENCER_", extra="ignore", frozen=True, populate_by_name=True
    )

    retry_base_s: float = Field(default=5.0, gt=0, description="backoff after a first failure")
    retry_cap_s: float = Field(default=300.0, gt=0, description="longest backoff")
    stall_after_s: float = Field(
        default=300.0,
        gt=0,
        description="a running attempt with no JobPlanned or JobProgressed for this long is "
        "failed (and retried under its retries); long enough for a slide's planning, a model's "
        "first load and a slow batch while other jobs share the pool",
    )
    append_in_flight: int = Field(
        default=APPEND_IN_FLIGHT,
        ge=1,
        description="decisions of one wave appended at once (pipelined; 1 = one after the other)",
    )


def build(settings: SequencerSettings, rt: Runtime) -> Sequencer:
    initial = SequencerState(
        max_workers=settings.max_workers,
        retry_base=timedelta(seconds=settings.retry_base_s),
        retry_cap=timedelta(seconds=settings.retry_cap_s),
        retention=timedelta(seconds=settings.finished_retention_s),
        stall_after=timedelta(seconds=settings.stall_after_s),
    )
    snapshots = Snapshots(
        rt.bus, "branch-sequencer", fingerprint(domain, state), settings.snapshot_every
    )
    return Sequencer(rt.bus, initial, snapshots=snapshots, in_flight=settings.append_in_flight)


def main() -> None:
    settings = SequencerSettings()

    async def serve(rt: Runtime) -> None:
        rt.ready = True  # a standby is healthy too; tessera_leader{role} tells who decides

        async def decide(stop: asyncio.Event) -> None:  # afresh each time it leads
            await build(settings, rt).run(stop)

        await lead(rt.bus, "branch-sequencer", rt.stop, decide, ttl_s=settings.lease_ttl_s)

    asyncio.run(run_service("branch-sequencer", serve, settings))


if __name__ == "__main__":
    main()
