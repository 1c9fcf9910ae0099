"""Gateway settings (env prefix `TESSERA_GATEWAY_`) on top of the shared ones."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tessera.settings import Settings


class GatewaySettings(Settings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_GATEWAY_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    page_size_max: int = Field(default=200, ge=1)
