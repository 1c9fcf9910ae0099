from __future__ import annotations

from pathlib import Path

import pytest

from tessera.slides.synth import SyntheticSlide, write_synthetic_slide

REPO = Path(__file__).resolve().parents[3]
CMU_SMALL = REPO / "data" / "slides" / "CMU-1-Small-Region.svs"


@pytest.fixture(scope="session")
def synthetic_slide(tmp_path_factory: pytest.TempPathFactory) -> SyntheticSlide:
    """A 1600x1200 two-level synthetic SVS at 0.25 µm/px (written once per session)."""
    root = tmp_path_factory.mktemp("synth")
    return write_synthetic_slide(root / "small.svs", 1600, 1200, mpp=0.25, seed=11)


@pytest.fixture
def cmu_small() -> Path:
    if not CMU_SMALL.exists():
        pytest.skip("data/slides/CMU-1-Small-Region.svs is missing")
    return CMU_SMALL
