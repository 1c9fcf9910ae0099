"""The batched forward of the inference service."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tessera.segmentation.evaluation import segment_at_model_resolution
from tessera.segmentation.metrics import match_instances
from tessera.segmentation.normalisation import normalisation_stats
from tessera.segmentation.nucls import load_tiles
from tessera.segmentation.predict import (
    Predictor,
    batch_shapes,
    padded_size,
    resolve_fragments,
    resolve_precision,
)
from tessera.segmentation.registry import resolve_model


def test_returns_int32_labels_of_the_batch_shape(tiny_model_dir: Path) -> None:
    module = resolve_model(str(tiny_model_dir)).module
    predictor = Predictor(module, device="cpu", precision="fp32")
    batch = np.random.default_rng(0).integers(0, 255, (2, 80, 72, 3), dtype=np.uint8)
    labels = predictor(batch, normalisation_stats(batch))
    assert labels.shape == (2, 80, 72) and labels.dtype == np.int32


def test_rejects_channels_first_input(tiny_model_dir: Path) -> None:
    predictor = Predictor(resolve_model(str(tiny_model_dir)).module, device="cpu")
    with pytest.raises(ValueError, match=r"\(B, H, W, 3\)"):
        predictor(np.zeros((1, 3, 64, 64), np.uint8), normalisation_stats(np.zeros((4, 3))))


def test_precision_choice() -> None:
    import torch

    assert resolve_precision("auto", torch.device("cuda")) == "fp16"
    assert resolve_precision("auto", torch.device("cpu")) in ("fp32", "bf16")
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"


def test_bundled_model_finds_nuclei_and_bf16_agrees_with_fp32() -> None:
    model = resolve_model("bundled")
    tile = next(t for t in load_tiles() if t.name == "nucls_train_8")  # held out of training
    fp32 = segment_at_model_resolution(Predictor(model.module, "cpu", "fp32"), tile.image, 0.5)
    bf16 = segment_at_model_resolution(Predictor(model.module, "cpu", "bf16"), tile.image, 0.5)
    assert match_instances(tile.labels, fp32).f1 > 0.5
    assert match_instances(fp32, bf16).f1 > 0.9


def test_padded_batches_give_the_labels_of_the_tiles_alone() -> None:
    model = resolve_model("bundled")
    tile = next(t for t in load_tiles() if t.name == "nucls_train_8")
    tiles = np.stack([tile.image[:128, :128], tile.image[-128:, -128:], tile.image[:128, -128:]])
    stats = normalisation_stats(tiles)
    plain = Predictor(model.module, "cpu", "fp32", pad_batches=False)
    padded = Predictor(model.module, "cpu", "fp32", pad_batches=True)
    padded.warm_up(128, 128, 4, stats, calls=1)
    assert padded._warm == {(1, 128, 128), (2, 128, 128), (4, 128, 128)}
    out = padded(tiles, stats)  # 3 tiles run as 4, the white one dropped
    assert out.shape == (3, 128, 128)
    assert out.max() > 0
    np.testing.assert_array_equal(out, np.stack([plain(t[None], stats)[0] for t in tiles]))


def test_padded_sizes_are_powers_of_two() -> None:
    assert [padded_size(n) for n in (1, 2, 3, 5, 8, 9, 16)] == [1, 2, 4, 8, 8, 16, 16]
    assert batch_shapes(16) == [1, 2, 4, 8, 16] and batch_shapes(6) == [1, 2, 4, 8]


def test_fragments_cleaned_on_the_labels_agree_with_the_models_own_clean_up() -> None:
    model = resolve_model("bundled")
    tile = next(t for t in load_tiles() if t.name == "nucls_train_8")
    in_model = Predictor(model.module, "cpu", "fp32", fragments="model")
    on_labels = Predictor(model.module, "cpu", "fp32", fragments="labels")
    a = segment_at_model_resolution(in_model, tile.image, 0.5)
    b = segment_at_model_resolution(on_labels, tile.image, 0.5)
    assert (a == b).mean() > 0.995
    assert match_instances(a, b).f1 > 0.97
    truth_a, truth_b = match_instances(tile.labels, a).f1, match_instances(tile.labels, b).f1
    assert truth_b > truth_a - 0.02


def test_fragment_clean_up_runs_where_it_is_cheap(tiny_model_dir: Path) -> None:
    import torch

    module = resolve_model(str(tiny_model_dir)).module
    assert resolve_fragments("auto", torch.device("cpu"), module) == "labels"
    assert resolve_fragments("auto", torch.device("cuda"), module) == "model"
    assert resolve_fragments("model", torch.device("cpu"), module) == "model"
    assert resolve_fragments("labels", torch.device("cpu"), torch.nn.Identity()) == "model"
