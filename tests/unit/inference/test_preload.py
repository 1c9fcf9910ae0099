"""Models named in `preload` are loaded (and, on a GPU, warmed) before a worker takes work."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.inference.handlers import InferenceWorker
from tessera.inference.settings import InferenceSettings
from tessera.segmentation.registry import resolve_model


async def test_preloaded_models_are_ready_and_a_bad_one_is_only_logged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TESSERA_MODEL_OFFLINE", "1")
    settings = InferenceSettings(device="cpu", threads=1, preload=" bundled , no-such-model ")
    assert settings.preload_models == ["bundled", "no-such-model"]
    worker = InferenceWorker(bus=Any, settings=settings)  # type: ignore[arg-type]
    try:
        await worker.preload()
        loaded = worker.predictors._ready["bundled"]
        # a job planned with this file gets the preloaded predictor, not a second load
        assert await worker.predictors.get("bundled", resolve_model("bundled").sha256) is loaded
        assert "no-such-model" not in worker.predictors._ready
    finally:
        worker.close()
