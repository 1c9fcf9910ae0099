"""Branch-sequencer settings (env prefix `TESSERA_SEQUENCER_`) on top of the shared ones (among
them `MAX_WORKERS`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tessera.settings import Settings


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
