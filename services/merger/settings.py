"""Merger settings (env prefix `TESSERA_MERGER_`) on top of the shared ones (among them
`merger_partitions`, which the tiler reads too)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from tessera.settings import Settings


class MergerSettings(Settings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_MERGER_", extra="ignore", frozen=True)

    partition: int = Field(
        default=0, ge=0, description="the partition this replica owns, < merger_partitions"
    )
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

    @model_validator(mode="after")
    def _owns_a_partition(self) -> Self:
        if self.partition >= self.merger_partitions:  # its results would never be published
            raise ValueError(
                f"TESSERA_MERGER_PARTITION={self.partition} is not below "
                f"TESSERA_MERGER_PARTITIONS={self.merger_partitions}"
            )
        return self
