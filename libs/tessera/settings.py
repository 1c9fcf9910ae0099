"""Settings shared by every service, read once from the environment and passed explicitly.

The connection URLs use the conventional unprefixed names (`NATS_URL`, `DATABASE_URL`,
`REDIS_URL`); everything else is `TESSERA_*`. Every service has a `Settings` subclass in its own
`settings.py` with its own env prefix (`TESSERA_<SERVICE>_`) for the knobs only it has, built once
in its `main.py` and passed explicitly; the shared fields keep their names through explicit
aliases. Settings modules are the only code that reads the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TESSERA_", extra="ignore", frozen=True, populate_by_name=True
    )

    nats_url: str = Field(
        default="nats://127.0.0.1:4222",
        validation_alias=AliasChoices("NATS_URL", "TESSERA_NATS_URL"),
        description="one server, or a cluster's seeds comma-separated (the client tries each)",
    )
    stream_replicas: int = Field(
        default=1,
        ge=1,
        le=5,
        validation_alias="TESSERA_STREAM_REPLICAS",
        description="copies of each stream, the lease KV and the snapshot store on a JetStream "
        "cluster (3 on three nodes); existing ones are scaled up to it, never down",
    )
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/tessera",
        validation_alias=AliasChoices("DATABASE_URL", "TESSERA_DATABASE_URL"),
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("REDIS_URL", "TESSERA_REDIS_URL"),
    )
    namespace: str = Field(
        default="tessera",
        validation_alias="TESSERA_NAMESPACE",
        pattern=r"^[a-z][a-z0-9_]{0,40}$",
        description="prefix of all subjects and streams: isolated stacks can share one NATS",
    )
    data_root: Path = Field(
        default=REPO_ROOT / "data" / "slides", validation_alias="TESSERA_DATA_ROOT"
    )
    results_root: Path = Field(
        default=REPO_ROOT / ".state" / "results", validation_alias="TESSERA_RESULTS_ROOT"
    )
    max_workers: int = Field(
        default=4,
        ge=1,
        le=10_000,
        validation_alias=AliasChoices("MAX_WORKERS", "TESSERA_MAX_WORKERS"),
    )
    max_active_tenants: int = Field(
        default=3,
        ge=1,
        le=10_000,
        validation_alias=AliasChoices("MAX_ACTIVE_TENANTS", "TESSERA_MAX_ACTIVE_TENANTS"),
    )
    lease_ttl_s: float = Field(
        default=10.0,
        ge=1.0,
        le=600.0,
        validation_alias="TESSERA_LEASE_TTL_S",
        description="a dead decider's role passes to a standby replica within this (tessera.lease)",
    )
    finished_retention_s: float = Field(
        default=7 * 86400.0,
        ge=0,
        validation_alias="TESSERA_FINISHED_RETENTION_S",
        description="admission and the branch-sequencer forget a finished workflow this long "
        "after it finished (log time); a later cancel is answered from the read model",
    )
    snapshot_every: int = Field(
        default=10_000,
        ge=0,
        validation_alias="TESSERA_SNAPSHOT_EVERY",
        description="services that fold the log save their state after this many events, so a "
        "restart reads only the log's tail (tessera.snapshots); 0 = never, fold from 1",
    )
    merger_partitions: int = Field(
        default=1,
        ge=1,
        le=1024,
        validation_alias="TESSERA_MERGER_PARTITIONS",
        description="RESULTS partitions, one merger replica each: the tiler spreads the attempts "
        "over this many and each merger owns one, so both read this one setting",
    )
    log_level: str = Field(default="INFO", validation_alias="TESSERA_LOG_LEVEL")
    log_json: bool = Field(default=True, validation_alias="TESSERA_LOG_JSON")
    ops_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        validation_alias="TESSERA_OPS_PORT",
        description="/metrics /healthz /readyz of this process; 0 = off",
    )
    ops_host: str = Field(default="127.0.0.1", validation_alias="TESSERA_OPS_HOST")
