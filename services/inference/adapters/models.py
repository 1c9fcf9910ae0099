"""Loaded models and their predictors, one per model setting, loaded off the event loop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tessera.inference.domain import ModelChanged
from tessera.segmentation.predict import Fragments, Precision, Predictor
from tessera.segmentation.registry import LoadedModel, resolve_model


@dataclass(frozen=True)
class Ready:
    model: LoadedModel
    predictor: Predictor


class Predictors:
    def __init__(
        self, device: str = "auto", precision: Precision = "auto", fragments: Fragments = "auto"
    ) -> None:
        self.device = device
        self.precision = precision
        self.fragments = fragments
        self._ready: dict[str, Ready] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, setting: str, sha256: str) -> Ready:
        """The predictor of `setting`, checked against the sha256 the job was planned with.

        Raises `ModelUnavailable` (missing or corrupt file) or `ModelChanged`.
        """
        lock = self._locks.setdefault(setting, asyncio.Lock())
        async with lock:
            ready = self._ready.get(setting)
            if ready is None or ready.model.sha256 != sha256:  # new file: load it again
                ready = await asyncio.to_thread(self._load, setting)
                self._ready[setting] = ready
            if ready.model.sha256 != sha256:
                raise ModelChanged(
                    f"model {setting!r} changed since the job was planned (planned with sha256 "
                    f"{sha256[:12]}, now {ready.model.sha256[:12]}); a retry plans again"
                )
            return ready

    async def load(self, setting: str) -> Ready:
        """Load `setting` now (whatever file it names today), for a later `get`."""
        lock = self._locks.setdefault(setting, asyncio.Lock())
        async with lock:
            ready = await asyncio.to_thread(self._load, setting)
            self._ready[setting] = ready
            return ready

    def _load(self, setting: str) -> Ready:
        model = resolve_model(setting)
        predictor = Predictor(model.module, self.device, self.precision, fragments=self.fragments)
        return Ready(model, predictor)
