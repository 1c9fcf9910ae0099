"""The tiler's model metadata is cached, but not for ever: what a setting names can change."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.segmentation.errors import ModelUnavailable
from tessera.segmentation.registry import LoadedModel
from tessera.tiler.adapters.models import ModelInfoCache


class Models:
    """A setting's current file, as a fake loader; counts loads."""

    def __init__(self) -> None:
        self.sha = "a" * 64
        self.loads = 0
        self.broken = False

    async def load(self, setting: str) -> LoadedModel:
        self.loads += 1
        if self.broken:
            raise ModelUnavailable(setting, "no such file", Path("/nowhere"))
        return LoadedModel("m", self.sha, Path("/m/instanseg.pt"), "local", 0.5, None)  # type: ignore[arg-type]


async def test_metadata_is_reused_then_refreshed_and_failures_are_not_cached() -> None:
    models, now = Models(), [0.0]
    cache = ModelInfoCache(ttl_s=60, loader=models.load, clock=lambda: now[0])
    first = await cache.get("auto")
    assert (first.sha256, first.pixel_size, models.loads) == ("a" * 64, 0.5, 1)
    now[0] = 59.0
    assert await cache.get("auto") is first and models.loads == 1
    models.sha = "b" * 64  # the setting now names another file (e.g. auto -> published)
    now[0] = 61.0
    assert (await cache.get("auto")).sha256 == "b" * 64 and models.loads == 2
    models.broken = True
    now[0] = 200.0
    with pytest.raises(ModelUnavailable):
        await cache.get("auto")
    models.broken = False
    assert (await cache.get("auto")).sha256 == "b" * 64 and models.loads == 4
