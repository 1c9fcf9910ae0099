"""What the tiler needs of a model: its pixel size (to lay the grid), name and sha256.

Loaded through `tessera.segmentation.registry.load_model` (a worker thread: the event loop never
waits on disk or TorchScript), then only the metadata is kept, for `ttl_s`: what a setting names
can change under a running tiler (`auto` switches from the bundled to the published model once
that is cached; a folder gets a new file), and a job must be planned with the model the
inference workers will load, whose sha256 they check. A failure is not cached: the next job
asking for the setting tries again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tessera.segmentation.registry import LoadedModel, load_model


@dataclass(frozen=True)
class ModelInfo:
    setting: str
    name: str
    sha256: str
    pixel_size: float
    source: str


class ModelInfoCache:
    def __init__(
        self,
        ttl_s: float = 60.0,
        loader: Callable[[str], Awaitable[LoadedModel]] = load_model,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self._load = loader
        self._clock = clock
        self._known: dict[str, tuple[ModelInfo, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, setting: str) -> ModelInfo:
        """The model a setting names now; raises `ModelUnavailable` with a readable reason."""
        lock = self._locks.setdefault(setting, asyncio.Lock())
        async with lock:
            known = self._known.get(setting)
            if known is not None and self._clock() - known[1] < self.ttl_s:
                return known[0]
            model = await self._load(setting)
            info = ModelInfo(setting, model.name, model.sha256, model.pixel_size, model.source)
            self._known[setting] = (info, self._clock())
            return info
