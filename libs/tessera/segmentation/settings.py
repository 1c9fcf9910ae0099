"""Where the segmentation models come from (env names as before, read here only).

The tiler, the inference workers and `tessera model` resolve models through `registry`, which
builds these settings when it resolves one: a test or a script may change the environment between
two calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tessera.settings import REPO_ROOT


class ModelSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    offline: bool = Field(
        default=False,
        validation_alias="TESSERA_MODEL_OFFLINE",
        description="never download a published model (1/true/yes/on; the tests set it)",
    )
    bundled_dir: Path = Field(
        default=REPO_ROOT / "models" / "tessera_he_nuclei",
        validation_alias="TESSERA_BUNDLED_MODEL",
        description="the model shipped with Tessera (`bundled`, and `auto` offline)",
    )
    download_timeout_s: float = Field(
        default=60.0, gt=0, validation_alias="TESSERA_MODEL_DOWNLOAD_TIMEOUT"
    )
    cache_dir: Path | None = Field(
        default=None,
        validation_alias="INSTANSEG_BIOIMAGEIO_PATH",
        description="instanseg's own cache of published models (its variable); None: its default",
    )
    # the NuCLS tiles `tessera model train|evaluate` read
    nucls_dir: Path = Field(REPO_ROOT / "data" / "nuclei_he_nucls", alias="TESSERA_NUCLS_DIR")

    @field_validator("offline", mode="before")
    @classmethod
    def _unset_is_online(cls, value: Any) -> Any:
        return False if isinstance(value, str) and not value.strip() else value

    @field_validator("cache_dir", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value
