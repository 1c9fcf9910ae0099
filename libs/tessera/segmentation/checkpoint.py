"""Training checkpoints: written atomically, resumed only into the same architecture.

A checkpoint holds the weights, the optimiser (so Adam's moments survive a restart), the run's
progress (`TrainState`: steps, time spent, validation history) and the configuration it was
started with. `tessera model export` rebuilds the network from a checkpoint alone.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tessera.segmentation.errors import CheckpointMismatch
from tessera.segmentation.network import Architecture, build_loss, build_network

FORMAT = 1


@dataclass
class TrainState:
    step: int = 0
    elapsed_s: float = 0.0
    loss_ema: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def save_checkpoint(
    path: Path,
    architecture: Architecture,
    config: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    state: TrainState,
) -> None:
    """Write atomically: a run killed mid-write leaves the previous checkpoint intact."""
    payload = {
        "format": FORMAT,
        "architecture": architecture.as_dict(),
        "config": config,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "state": asdict(state),
    }
    temporary = path.with_suffix(".tmp")
    torch.save(payload, temporary)
    os.replace(temporary, path)


def load_checkpoint(
    path: Path,
    architecture: Architecture,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    device: torch.device,
) -> TrainState:
    """Restore weights (and optimiser) into `model`; refuses a different architecture."""
    payload = torch.load(path, map_location=device, weights_only=False)
    saved = Architecture.from_dict(payload["architecture"])
    for name in ("layers", "pixel_size", "n_sigma", "dim_coords", "dim_seeds", "mlp_width"):
        if getattr(saved, name) != getattr(architecture, name):
            raise CheckpointMismatch(path, name, getattr(saved, name), getattr(architecture, name))
    model.load_state_dict(payload["model"])
    if optimizer is not None:
        optimizer.load_state_dict(payload["optimizer"])
    return TrainState(**payload["state"])


def load_trained(path: Path, device: str = "cpu") -> tuple[nn.Module, Architecture, TrainState]:
    """A network rebuilt from a checkpoint alone (for `tessera model export`)."""
    payload = torch.load(path, map_location=device, weights_only=False)
    architecture = Architecture.from_dict(payload["architecture"])
    model = build_network(architecture, build_loss(architecture, device))
    state = load_checkpoint(path, architecture, model.to(device), None, torch.device(device))
    return model, architecture, state
