"""The gateway's cell indexes: one build per job however many ask at once, bounded by cells."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from tessera.errors import NotFound
from tessera.gateway import cells
from tessera.gateway.cells import CellIndexes
from tessera.stitching.cell_index import CellIndex


def index_of(n: int) -> CellIndex:
    xy = np.column_stack([np.arange(n, dtype=float) * 10 + 5, np.full(n, 5.0)])
    square = np.array([[-2, -2], [2, -2], [2, 2], [-2, 2], [-2, -2]], float)
    points = (xy[:, None, :] + square).reshape(-1, 2)
    bboxes = np.column_stack([xy - 2, xy + 2])
    return CellIndex(
        np.arange(n), xy, np.full(n, 16.0), np.full(n, np.nan), bboxes, points, np.arange(n + 1) * 5
    )


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Folders built, in order; a folder's name is its number of cells."""
    seen: list[Path] = []

    def build(folder: Path, job_type: str) -> CellIndex:
        seen.append(folder)
        if folder.name == "none":
            raise NotFound("cells", folder.name, f"a {job_type} job has no cells")
        return index_of(int(folder.name))

    monkeypatch.setattr(cells, "_build", build)
    return seen


async def test_requests_at_once_share_one_build(builds: list[Path]) -> None:
    indexes = CellIndexes()
    got = await asyncio.gather(*(indexes.get(Path("3"), "cell_segmentation") for _ in range(5)))
    assert builds == [Path("3")]
    assert all(index is got[0] for index in got) and len(got[0]) == 3
    assert await indexes.get(Path("3"), "cell_segmentation") is got[0]
    assert builds == [Path("3")]


async def test_the_least_recently_used_go_when_past_the_cells_budget(builds: list[Path]) -> None:
    indexes = CellIndexes(max_cells=10)
    for name in ("4", "5", "4", "3"):  # 4 used again: 5 is the least recently used
        await indexes.get(Path(name), "cell_segmentation")
    await indexes.get(Path("5"), "cell_segmentation")
    assert builds == [Path("4"), Path("5"), Path("3"), Path("5")]
    await indexes.get(Path("40"), "cell_segmentation")  # larger than the budget: kept alone
    await indexes.get(Path("40"), "cell_segmentation")
    assert builds[-1] == Path("40") and builds.count(Path("40")) == 1


async def test_a_job_without_cells_is_not_found_each_time(builds: list[Path]) -> None:
    indexes = CellIndexes()
    for _ in range(2):
        with pytest.raises(NotFound, match="a tissue_mask job has no cells"):
            await indexes.get(Path("none"), "tissue_mask")
    assert builds == [Path("none")] * 2
