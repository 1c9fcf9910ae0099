"""Admission settings (env prefix `TESSERA_ADMISSION_`) on top of the shared ones.

Admission's knobs are shared ones today: `MAX_ACTIVE_TENANTS` (the gateway shows it too), the
lease, snapshots and the finished-workflow retention. Its own would go here.
"""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from tessera.settings import Settings


class AdmissionSettings(Settings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_ADMISSION_", extra="ignore", frozen=True)
