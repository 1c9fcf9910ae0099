"""Merger settings (env prefix `TESSERA_MERGER_`) on top of the shared ones."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tessera.settings import Settings


class MergerSettings(Settings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_MERGER_", extra="ignore", frozen=True)

    partitions: int = Field(
        default=1, ge=1, le=1024, description="RESULTS partitions (the tiler must agree)"
    )
    partition: int = Field(default=0, ge=0, description="the partition this replica owns")
    fetch_batch: int = Field(
        default=16, ge=1, le=1024, description="results applied per flush (then acked)"
    )
    ack_wait_s: float = Field(default=30.0, ge=1.0, le=600.0)
    progress_interval_s: float = Field(
        default=0.5, ge=0, description="at most one JobProgressed per job this often"
    )
    plan_wait_s: float = Field(
        default=0.25, gt=0, description="redelivery delay of a result whose plan is not known yet"
    )
    max_plan_waits: int = Field(
        default=40, ge=1, description="a result whose plan never shows up is dropped after this"
    )


def merger_settings(base: Settings) -> MergerSettings:
    if isinstance(base, MergerSettings):
        return base
    return MergerSettings(**base.model_dump())
