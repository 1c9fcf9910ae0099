from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.unit.dataplane.test_on_memory_bus import Plane


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[Plane]:
    plane = Plane(tmp_path / "results")
    await plane.bus.ensure_streams()
    try:
        yield plane
    finally:
        await plane.aclose()
