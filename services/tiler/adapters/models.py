"""What the tiler needs of a model: its pixel size (to lay the grid), name and sha256.

Loaded once per model setting through `tessera.segmentation.registry.load_model` (a worker
thread: the event loop never waits on disk or TorchScript), then only the metadata is kept. A
failure is not cached: the next job asking for the setting tries again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tessera.segmentation.registry import load_model


@dataclass(frozen=True)
class ModelInfo:
    setting: str
    name: str
    sha256: str
    pixel_size: float
    source: str


class ModelInfoCache:
    def __init__(self) -> None:
        self._known: dict[str, ModelInfo] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, setting: str) -> ModelInfo:
        """The model a setting names; raises `ModelUnavailable` with a readable reason."""
        lock = self._locks.setdefault(setting, asyncio.Lock())
        async with lock:
            info = self._known.get(setting)
            if info is None:
                model = await load_model(setting)
                info = ModelInfo(setting, model.name, model.sha256, model.pixel_size, model.source)
                self._known[setting] = info
            return info
