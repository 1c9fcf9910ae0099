"""Models the data-plane tests run through the real inference path (TorchScript, registry).

`DarkBlobs` is a classical nuclei detector written as a TorchScript InstanSeg stand-in: it takes
the normalised `B,3,H,W` batch InstanSeg takes, finds seeds at the peaks of darkness
(haematoxylin is the darkest stain), grows each a few pixels inside the dark foreground, and
returns float32 labels `B,1,H,W` with a `pixel_size` attribute. It finds real nuclei on the real
CMU slide in a fraction of a second per tile and is exactly deterministic, which is what the
tests need: counts and ids that runs can be compared on. An untrained InstanSeg export finds no
nuclei at all (its own test checks that the InstanSeg path runs end to end).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tessera.segmentation.export import export_model
from tessera.segmentation.jit import torchscript_deprecation_silenced
from tessera.segmentation.network import Architecture, build_loss, build_network


class DarkBlobs(nn.Module):
    # Attribute types are inferred by TorchScript from the values set in __init__.
    def __init__(self, pixel_size: float = 0.5, threshold: float = 0.7, radius: int = 6):
        super().__init__()
        self.pixel_size = pixel_size
        self.threshold = threshold
        self.radius = radius

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        darkness = 1.0 - x.float().mean(dim=1, keepdim=True).contiguous()
        smooth = F.avg_pool2d(darkness, 5, 1, 2)
        fg = (smooth > self.threshold).float()
        # seeds: darkness peaks (like InstanSeg's seed map), then each grows inside the
        # foreground for `radius` steps without taking pixels another seed reached first
        seeds = (smooth == F.max_pool2d(smooth, 7, 1, 3)).float() * fg
        b, _, h, w = x.shape
        ids = torch.arange(1, h * w + 1, dtype=torch.float32, device=x.device)
        labels = ids.reshape(1, 1, h, w).expand(b, 1, h, w) * seeds
        for _ in range(self.radius):
            grown = F.max_pool2d(labels, 3, 1, 1) * fg
            labels = torch.where(labels > 0, labels, grown)
        return labels


def export_dark_blobs(folder: Path, pixel_size: float = 0.5) -> Path:
    """Script and save `folder/instanseg.pt`."""
    folder.mkdir(parents=True, exist_ok=True)
    with torchscript_deprecation_silenced():
        scripted = torch.jit.script(DarkBlobs(pixel_size).eval())
        torch.jit.save(scripted, str(folder / "instanseg.pt"))
    return folder / "instanseg.pt"


def export_tiny_instanseg(folder: Path, pixel_size: float) -> Path:
    """An untrained two-level InstanSeg, exported the way the bundled model is."""
    arch = Architecture(layers=(8, 16), pixel_size=pixel_size)
    network = build_network(arch, build_loss(arch, "cpu"), seed=0)
    return export_model(network, arch, folder, metadata={"name": folder.name})
