"""The exported file is what the plain instanseg package loads from a local folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from instanseg import InstanSeg

from tessera.segmentation.export import read_metadata
from tessera.segmentation.jit import torchscript_deprecation_silenced


def test_instanseg_loads_the_folder_and_segments(tiny_model_dir: Path) -> None:
    with torchscript_deprecation_silenced():  # instanseg calls torch.jit.load itself
        model = InstanSeg(str(tiny_model_dir.resolve()), device="cpu", verbosity=0)
    assert isinstance(model.instanseg, torch.jit.ScriptModule)
    assert model.instanseg.pixel_size == 0.5
    image = np.random.default_rng(0).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    labels, _ = model.eval_small_image(image, pixel_size=0.5)
    assert tuple(labels.shape[-2:]) == (96, 96)


def test_scripted_module_keeps_instanseg_defaults_and_our_metadata(tiny_model_dir: Path) -> None:
    with torchscript_deprecation_silenced():
        module = torch.jit.load(str(tiny_model_dir / "instanseg.pt"))
    assert module.default_seed_threshold == 0.7 and module.default_window_size == 32
    metadata = read_metadata(tiny_model_dir / "instanseg.pt")
    assert metadata["name"] == "tiny_nuclei"
    assert metadata["architecture"]["layers"] == [8, 16]
