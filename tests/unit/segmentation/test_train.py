"""A training smoke test on a tiny network: finite loss, checkpoint, resume, export."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from tessera.segmentation.checkpoint import load_checkpoint
from tessera.segmentation.errors import CheckpointMismatch
from tessera.segmentation.network import Architecture
from tessera.segmentation.train import (
    CHECKPOINT_FILE,
    METRICS_FILE,
    TrainConfig,
    learning_rate,
    train,
)
from tests.unit.segmentation.conftest import TINY


def tiny_config(out: Path, steps: int, **changes: object) -> TrainConfig:
    base = TrainConfig(
        out=out, architecture=TINY, minutes=None, steps=steps, batch_size=2, tile_size=64,
        synthetic_validation_tiles=1, threads=1, progress=False, held_out=("nucls_train_1",),
    )  # fmt: skip
    return TrainConfig(**{**base.__dict__, **changes})


@pytest.mark.slow
def test_two_steps_then_resume_to_three(tmp_path: Path) -> None:
    first = train(tiny_config(tmp_path, steps=2))
    assert first.metrics["final"]["step"] == 2
    assert math.isfinite(first.metrics["final"]["loss"])
    assert (tmp_path / CHECKPOINT_FILE).exists() and (tmp_path / METRICS_FILE).exists()
    assert first.model_path == tmp_path / "tessera_he_nuclei" / "instanseg.pt"
    saved = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=False)["model"]

    second = train(tiny_config(tmp_path, steps=3))
    assert second.metrics["final"]["step"] == 3  # one more step, not three
    assert [r["step"] for r in second.metrics["history"]] == [2, 3]
    resumed = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=False)["model"]
    assert any(not torch.equal(saved[k], resumed[k]) for k in saved)  # it trained on
    metrics = json.loads((tmp_path / METRICS_FILE).read_text())
    assert {"synthetic_held_out", "nucls_train", "nucls_held_out"} <= set(metrics["final"])
    assert metrics["final"]["nucls_held_out"]["tiles"] == 1


def test_checkpoint_of_another_architecture_is_refused(tmp_path: Path) -> None:
    train(tiny_config(tmp_path, steps=1, real_fraction=0.0))
    from tessera.segmentation.network import build_loss, build_network

    other = Architecture(layers=(8, 16, 32))
    model = build_network(other, build_loss(other, "cpu"))
    with pytest.raises(CheckpointMismatch, match="layers"):
        load_checkpoint(tmp_path / CHECKPOINT_FILE, other, model, None, torch.device("cpu"))


def test_a_run_needs_a_bound(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="budget"):
        train(tiny_config(tmp_path, steps=None))


def test_seed_map_starts_in_the_range_of_its_target() -> None:
    from tessera.segmentation.network import build_loss, build_network

    model = build_network(TINY, build_loss(TINY, "cpu"), seed=0).train()
    seed_map = model(torch.rand(2, 3, 32, 32))[:, -1]
    assert seed_map.mean().item() == pytest.approx(-6.0, abs=0.01)  # background target: -7.5


def test_learning_rate_warms_up_then_decays() -> None:
    assert learning_rate(1.0, 0.0) < learning_rate(1.0, 0.01) < learning_rate(1.0, 0.02)
    assert learning_rate(1.0, 0.02) == pytest.approx(1.0)
    assert learning_rate(1.0, 0.5) < 1.0
    assert learning_rate(1.0, 1.0) == pytest.approx(0.05)
