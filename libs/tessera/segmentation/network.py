"""The InstanSeg network and loss, built with instanseg-torch's own classes.

Tessera does not re-implement InstanSeg: the backbone comes from
`instanseg.utils.model_loader.build_model_from_dict`, the loss (seed map regressed to a normalised
distance transform, Lovasz hinge on the per-instance masks) and the pixel classifier from
`instanseg.utils.loss.instanseg_loss.InstanSeg`. `Architecture` holds the handful of choices that
must agree between training, the checkpoint and the exported TorchScript.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from tessera.segmentation.jit import torchscript_deprecation_silenced


@dataclass(frozen=True)
class Architecture:
    """What defines the network; a checkpoint only resumes into the same one.

    `layers` are the UNet widths: 16-32-64-128 (0.96 M parameters, ~4 MB) runs a 512 x 512 tile
    on one CPU core in about a second; 32-64-128-256 (InstanSeg's default) is 4x the parameters
    and about 3.5x the time.
    """

    layers: tuple[int, ...] = (16, 32, 64, 128)
    pixel_size: float = 0.5
    n_sigma: int = 2
    dim_coords: int = 2
    dim_seeds: int = 1
    mlp_width: int = 5
    norm: str = "BATCH"
    feature_engineering: str = "0"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["layers"] = list(self.layers)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Architecture:
        return cls(**{**values, "layers": tuple(values["layers"])})

    def instanseg_dict(self) -> dict[str, Any]:
        """The dictionary `build_model_from_dict` reads (the keys of InstanSeg's train script)."""
        return {
            "model_str": "InstanSeg_UNet",
            "dim_in": 3,
            "layers": list(self.layers),
            "norm": self.norm,
            "dropprob": 0.0,
            "multihead": False,
            "cells_and_nuclei": False,
            "dim_seeds": self.dim_seeds,
            "dim_coords": self.dim_coords,
            "n_sigma": self.n_sigma,
            "dim_out": self.dim_coords + self.n_sigma + self.dim_seeds,
            "feature_engineering": self.feature_engineering,
            "pixel_size": self.pixel_size,
        }


def build_loss(
    architecture: Architecture, device: torch.device | str, window_size: int = 64
) -> nn.Module:
    """InstanSeg's loss with the settings of its train script (l1_distance seeds, Lovasz hinge).

    Training switches the mask loss to InstanSeg's `dice_loss` (monai) for its warm-up through
    the loss's own `update_binary_loss`. Unlike InstanSeg's hotstart the seed loss stays
    `l1_distance`: `calibrate_seed_head` already starts the seed map in range.

    `window_size` is the side of the crop scored around each nucleus: 64 px at 0.5 um/px holds
    the largest nuclei and matches the 2 x 32 px window the exported post-processing uses.
    The seed loss must be `l1_distance`: the exported post-processing reads the seed map as
    `x / 15 + 0.5`, the inverse of that loss's target.
    """
    with torchscript_deprecation_silenced():  # the loss module scripts helpers on import
        from instanseg.utils.loss.instanseg_loss import InstanSeg

    return InstanSeg(
        binary_loss_fn_str="lovasz_hinge",
        seed_loss_fn="l1_distance",
        device=str(device),
        n_sigma=architecture.n_sigma,
        cells_and_nuclei=False,
        window_size=window_size,
        dim_coords=architecture.dim_coords,
        dim_seeds=architecture.dim_seeds,
        feature_engineering_function=architecture.feature_engineering,
    )


def build_network(
    architecture: Architecture, loss: nn.Module, seed: int | None = None
) -> nn.Module:
    """Backbone from `build_model_from_dict` plus the loss's pixel classifier (shared with it)."""
    from instanseg.utils.model_loader import build_model_from_dict

    with (
        contextlib.redirect_stdout(io.StringIO()),
        torchscript_deprecation_silenced(),
    ):  # it prints "Generating InstanSeg_UNet"
        model = build_model_from_dict(architecture.instanseg_dict(), random_seed=seed)
    calibrate_seed_head(model)
    return loss.initialize_pixel_classifier(model, MLP_width=architecture.mlp_width)


def calibrate_seed_head(model: nn.Module, scale: float = 4.5, offset: float = -6.0) -> None:
    """Start the seed map in the range of its target instead of at N(0, 1).

    The l1_distance seed loss regresses each pixel to (normalised distance - 0.5) x 15: -7.5 on
    background (most pixels) up to +7.5 at nucleus centres. The seed channel ends in a 1x1
    convolution and a batch norm initialised to weight 1, bias 0, and Adam moves each of them by
    about the learning rate per step, so the background level alone takes thousands of steps to
    reach (InstanSeg trains for ~10^5 steps after a logistic-loss warm-up). Setting that last
    layer's affine parameters to (scale, offset) skips this phase; nothing else changes.
    """
    head = model.decoders[-1].final_block[-1]  # the seed map is the last output block
    conv, norm = head[0], head[1]
    with torch.no_grad():
        if isinstance(norm, nn.BatchNorm2d):
            norm.weight.fill_(scale)
            norm.bias.fill_(offset)
        else:
            conv.weight.mul_(scale)
            conv.bias.fill_(offset)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
