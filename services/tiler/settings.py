"""Tiler settings (env prefix `TESSERA_TILER_`) on top of the shared ones."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from tessera.settings import Settings


class TilerSettings(Settings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_TILER_", extra="ignore", frozen=True)

    window: int = Field(
        default=8,
        ge=1,
        le=10_000,
        description="tile batches in TILES at once for all running jobs together (queued or "
        "being processed), shared out evenly; at least 2 x the inference replicas keeps the pool "
        "busy",
    )
    batch_tiles: int = Field(default=8, ge=1, le=256, description="tiles per TILES message")
    tick_s: float = Field(default=0.1, gt=0, le=10, description="how often windows are refilled")
    plan_concurrency: int = Field(default=2, ge=1, le=64, description="slides planned at once")
    stats_sample_tiles: int = Field(
        default=8, ge=1, le=256, description="tiles read to compute a slide's normalisation"
    )
    merger_partitions: int = Field(
        default=1,
        ge=1,
        le=1024,
        validation_alias=AliasChoices("TESSERA_MERGER_PARTITIONS", "merger_partitions"),
        description="RESULTS partitions, one merger replica each (shared with the mergers)",
    )


def tiler_settings(base: Settings) -> TilerSettings:
    """The tiler's settings: `base` itself when it already is, else `base` plus the env's."""
    if isinstance(base, TilerSettings):
        return base
    return TilerSettings(**base.model_dump())
