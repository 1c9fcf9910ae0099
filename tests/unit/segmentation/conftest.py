"""A tiny exported InstanSeg model shared by the export, registry and predict tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tessera.segmentation.export import export_model
from tessera.segmentation.network import Architecture, build_loss, build_network

TINY = Architecture(layers=(8, 16))


@pytest.fixture(autouse=True)
def _offline_and_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_MODEL_OFFLINE", "1")
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding an untrained, exported `instanseg.pt` (tiny: two UNet levels)."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("tiny_model") / "tiny_nuclei"
    network = build_network(TINY, build_loss(TINY, "cpu"), seed=0)
    export_model(network, TINY, folder, metadata={"name": "tiny_nuclei"})
    return folder
