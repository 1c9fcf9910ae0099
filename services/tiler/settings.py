"""Tiler settings (env prefix `TESSERA_TILER_`) on top of the shared ones (among them
`merger_partitions`, which the mergers read too)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tessera.settings import Settings


class TilerSettings(Settings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_TILER_", extra="ignore", frozen=True)

    window: int = Field(
        default=8,
        ge=1,
        le=10_000,
        description="tile batches in TILES at once, whichever jobs they belong to (queued or "
        "being processed), shared out evenly and in turn; at least 2 x the inference replicas "
        "keeps the pool busy",
    )
    batch_tiles: int = Field(default=8, ge=1, le=256, description="tiles per TILES message")
    tick_s: float = Field(default=0.1, gt=0, le=10, description="how often windows are refilled")
    plan_concurrency: int = Field(default=2, ge=1, le=64, description="slides planned at once")
    stats_sample_tiles: int = Field(
        default=8, ge=1, le=256, description="tiles read to compute a slide's normalisation"
    )
