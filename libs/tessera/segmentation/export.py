"""TorchScript export exactly as InstanSeg exports its published models.

`instanseg.utils.utils.export_to_torchscript` wraps the trained network in
`InstanSeg_Torchscript` (traced backbone + scripted post-processing, with `pixel_size` and the
post-processing defaults as attributes), runs it once, scripts it and saves `instanseg.pt`. The
same steps here, from an in-memory network instead of InstanSeg's results folder, give a file that
the plain `instanseg` package loads with `InstanSeg("/abs/folder")`. Tessera's own metadata
(architecture, training summary) travels inside the file as an extra file, `tessera.json`.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tessera.segmentation.jit import torchscript_deprecation_silenced
from tessera.segmentation.network import Architecture

MODEL_FILE = "instanseg.pt"
METADATA_FILE = "tessera.json"


def torchscript_module(model: nn.Module, architecture: Architecture) -> nn.Module:
    """The eager `InstanSeg_Torchscript` wrapper around a CPU copy of `model` (left untouched)."""
    network = copy.deepcopy(model).cpu().float().eval()
    with torchscript_deprecation_silenced():
        from instanseg.utils.loss.instanseg_loss import InstanSeg_Torchscript

        wrapper = InstanSeg_Torchscript(
            network,
            cells_and_nuclei=False,
            pixel_size=architecture.pixel_size,
            n_sigma=architecture.n_sigma,
            dim_coords=architecture.dim_coords,
            dim_seeds=architecture.dim_seeds,
            backbone_dim_in=3,
            feature_engineering_function=architecture.feature_engineering,
            params=None,
        )
    return wrapper.eval()


def export_model(
    model: nn.Module,
    architecture: Architecture,
    folder: Path,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Script and save `folder/instanseg.pt`; returns its path. The write is atomic."""
    wrapper = torchscript_module(model, architecture)
    example = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        wrapper(example.clone())  # as InstanSeg does: one eager pass before scripting
    with torchscript_deprecation_silenced(), torch.jit.optimized_execution(True):
        scripted = torch.jit.script(wrapper)
    folder.mkdir(parents=True, exist_ok=True)
    extra = {
        METADATA_FILE: json.dumps({"architecture": architecture.as_dict(), **(metadata or {})})
    }
    target = folder / MODEL_FILE
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".pt.tmp")
    os.close(handle)
    try:
        with torchscript_deprecation_silenced():
            torch.jit.save(scripted, temporary, _extra_files=extra)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the model from other users
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def read_metadata(path: Path) -> dict[str, Any]:
    """Tessera's metadata inside an exported file ({} for models exported elsewhere)."""
    extra = {METADATA_FILE: ""}
    with torchscript_deprecation_silenced():
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return json.loads(extra[METADATA_FILE]) if extra[METADATA_FILE] else {}
