"""Projector settings (env prefix `TESSERA_PROJECTOR_`) on top of the shared ones."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tessera.settings import Settings


class ProjectorSettings(Settings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_PROJECTOR_", extra="ignore", frozen=True)

    db_pool_size: int = Field(
        default=4, ge=1, le=100, description="PostgreSQL connections (one applies the batches)"
    )
