"""Inference settings (env prefix `TESSERA_INFERENCE_`) on top of the shared ones."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tessera.settings import Settings


class InferenceSettings(Settings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_INFERENCE_", extra="ignore", frozen=True)

    device: str = Field(default="auto", description="auto, cpu, cuda, cuda:1, ...")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    fragments: Literal["auto", "model", "labels"] = Field(
        default="auto",
        description="where InstanSeg's fragment clean-up runs: in the model (its flood fill) or "
        "on the returned labels (connected components); auto: labels on a CPU, model on CUDA",
    )
    batch_size: int = Field(
        default=0, ge=0, le=256, description="tiles per forward pass; 0 = per device"
    )
    threads: int = Field(default=0, ge=0, le=256, description="torch CPU threads; 0 = default")
    reader_threads: int = Field(
        default=2, ge=1, le=64, description="slide readers (one handle each)"
    )
    post_threads: int = Field(
        default=1,
        ge=0,
        le=64,
        description="threads that clean, own and encode a batch's tiles while the model runs "
        "the next one (also the batches post-processed at once); 0: finish each batch before "
        "the model takes the next",
    )
    prefetch: int = Field(
        default=1, ge=1, le=8, description="batches read ahead while the model runs"
    )
    ack_wait_s: float = Field(
        default=10.0,
        ge=1.0,
        le=600.0,
        description="a dead worker's batch is redelivered after this; held alive every third",
    )
    max_ack_pending: int = Field(
        default=64, ge=1, le=100_000, description="batches in hand across all replicas"
    )
    preload: str = Field(
        default="",
        description="comma-separated model settings to load and warm before taking work (a GPU "
        "compiles each batch shape once, seconds each; without it the first job pays)",
    )
    preload_tile_size: int = Field(
        default=512, ge=64, le=4096, description="tile size the preloaded models are warmed for"
    )
    max_deliveries: int = Field(
        default=5,
        ge=1,
        le=100,
        description="a batch delivered this often without success fails its attempt",
    )

    @property
    def preload_models(self) -> list[str]:
        return [m.strip() for m in self.preload.split(",") if m.strip()]
