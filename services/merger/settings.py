"""Merger settings (env prefix `TESSERA_MERGER_`) on top of the shared ones (among them
`merger_partitions`, which the tiler reads too).

A merger's partition is `TESSERA_MERGER_PARTITION`, or else the ordinal its replica name ends in
(`TESSERA_MERGER_REPLICA`: a StatefulSet pod `tessera-merger-2` owns partition 2, and
`tessera up --mergers N` names its processes `merger-0` ... the same way).
"""

from __future__ import annotations

import re
from typing import Any, Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from tessera.settings import Settings


class MergerSettings(Settings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_MERGER_", extra="ignore", frozen=True)

    partition: int = Field(
        default=0, ge=0, description="the partition this replica owns, < merger_partitions"
    )
    replica: str = Field(
        default="",
        description="this replica's name; when `partition` is not set, the ordinal it ends in "
        "(`...-<n>`, a StatefulSet pod's name) is the partition",
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

    @model_validator(mode="before")
    @classmethod
    def _partition_of_the_replica(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("partition") is None and data.get("replica"):
            return {**data, "partition": replica_ordinal(str(data["replica"]))}
        return data

    @model_validator(mode="after")
    def _owns_a_partition(self) -> Self:
        if self.partition >= self.merger_partitions:  # its results would never be published
            raise ValueError(
                f"TESSERA_MERGER_PARTITION={self.partition} is not below "
                f"TESSERA_MERGER_PARTITIONS={self.merger_partitions}"
            )
        return self


def replica_ordinal(name: str) -> int:
    """The ordinal a replica's name ends in: `tessera-merger-2` -> 2."""
    match = re.fullmatch(r".*-(\d+)", name)
    if match is None:
        raise ValueError(
            f"TESSERA_MERGER_REPLICA={name!r} does not end in -<ordinal> (as a StatefulSet "
            "pod's name does); set TESSERA_MERGER_PARTITION instead"
        )
    return int(match.group(1))
