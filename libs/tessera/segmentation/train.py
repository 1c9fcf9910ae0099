"""Training loop for the bundled model: InstanSeg's network and loss, Tessera's data.

Each batch mixes procedural tiles (`synthetic.py`, unlimited, exact labels) with mosaics of
augmented real NuCLS tiles (`nucls.py`); the real share keeps the model from learning only the
synthetic look. The run is bounded by a time budget (`minutes`) and/or a step count; the learning
rate warms up and then follows a cosine to 5% over that budget, so a short run still ends on a
low learning rate. As InstanSeg's own train script does ("hotstart"), the first part of the
budget (`warmup_fraction`) scores the instance masks with InstanSeg's dice loss, which starts
converging much sooner than the Lovasz hinge used afterwards. Every few minutes a checkpoint
is written atomically to `out/checkpoint.pt` and the model is scored on held-out synthetic tiles
and on the NuCLS tiles (training tiles and the held-out ones reported apart). A run started
again with the same `out` resumes from the checkpoint, its budget counting the time already
spent. The result is exported to `out/<export_name>/instanseg.pt` and summarised in
`out/metrics.json`.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import platform
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from tessera.segmentation.checkpoint import TrainState, load_checkpoint, save_checkpoint
from tessera.segmentation.evaluation import score_nucls, score_synthetic
from tessera.segmentation.export import export_model, torchscript_module
from tessera.segmentation.network import Architecture, build_loss, build_network, parameter_count
from tessera.segmentation.nucls import HELD_OUT, LabelledTile, load_tiles, split_tiles
from tessera.segmentation.predict import Predictor, cpu_has_native_bf16, resolve_device
from tessera.segmentation.samples import SampleStream
from tessera.segmentation.synthetic import SyntheticTile, held_out_tiles

CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.json"
_WARMUP = 0.02
_FINAL_LR = 0.05


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on. `minutes` and `steps` bound it; at least one must be set."""

    out: Path
    architecture: Architecture = field(default_factory=Architecture)
    minutes: float | None = 30.0
    steps: int | None = None
    batch_size: int = 4
    tile_size: int = 256
    lr: float = 1e-3
    real_fraction: float = 0.5
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    threads: int | None = None
    amp: bool = True
    validate_every_minutes: float = 5.0
    checkpoint_every_minutes: float = 2.0
    synthetic_validation_tiles: int = 16
    data_dir: Path | None = None
    held_out: tuple[str, ...] = HELD_OUT
    window_size: int = 64
    warmup_fraction: float = 0.15
    head_lr_scale: float = 10.0
    batchnorm_batches: int = 8
    clip: float = 20.0
    resume: bool = True
    export_name: str = "tessera_he_nuclei"
    progress: bool = True

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["architecture"] = self.architecture.as_dict()
        out["out"] = str(self.out)
        out["data_dir"] = str(self.data_dir) if self.data_dir else None
        out["held_out"] = list(self.held_out)
        return out


@dataclass(frozen=True)
class TrainResult:
    model_path: Path
    checkpoint_path: Path
    metrics: dict[str, Any]


def learning_rate(base: float, progress: float) -> float:
    """Linear warm-up over the first 2% of the budget, then a cosine down to 5% of `base`."""
    if progress < _WARMUP:
        return base * max(progress / _WARMUP, 0.01)
    t = min(1.0, (progress - _WARMUP) / (1 - _WARMUP))
    return base * (_FINAL_LR + (1 - _FINAL_LR) * 0.5 * (1 + math.cos(math.pi * t)))


def train(config: TrainConfig) -> TrainResult:
    """Train (or resume), validate, checkpoint and export; see the module docstring."""
    if config.minutes is None and config.steps is None:
        raise ValueError("set a time budget (minutes) or a number of steps")
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    architecture = config.architecture
    loss_fn = build_loss(architecture, device, config.window_size)
    model = build_network(architecture, loss_fn, seed=config.seed).to(device)
    model = model.to(memory_format=torch.channels_last)  # faster convolutions on GPU and CPU
    optimizer = torch.optim.Adam(parameter_groups(model, config.head_lr_scale), lr=config.lr)
    config.out.mkdir(parents=True, exist_ok=True)
    checkpoint_path = config.out / CHECKPOINT_FILE
    state = TrainState()
    if config.resume and checkpoint_path.exists():
        state = load_checkpoint(checkpoint_path, architecture, model, optimizer, device)

    real_train: list[LabelledTile] = []
    real_held_out: list[LabelledTile] = []
    if config.real_fraction > 0:
        real_train, real_held_out = split_tiles(load_tiles(config.data_dir), config.held_out)
    synthetic_validation = held_out_tiles(config.synthetic_validation_tiles, config.tile_size)
    stream = SampleStream(
        real_train, config.tile_size, config.real_fraction, architecture.pixel_size,
        config.seed, stream=state.step,
    )  # fmt: skip
    loader = DataLoader(
        stream,
        batch_size=config.batch_size,
        num_workers=config.workers,
        worker_init_fn=_one_thread_per_worker,
        pin_memory=device.type == "cuda",
        persistent_workers=config.workers > 0,
        prefetch_factor=4 if config.workers > 0 else None,
    )
    autocast_enabled = config.amp and (device.type == "cuda" or cpu_has_native_bf16())
    budget_s = config.minutes * 60 if config.minutes is not None else None

    def progress_of(step: int, elapsed: float) -> float:
        parts = [0.0]
        if budget_s:
            parts.append(elapsed / budget_s)
        if config.steps:
            parts.append(step / config.steps)
        return min(1.0, max(parts))

    def validate() -> dict[str, Any]:
        recalibrate_batchnorm(model, [next(batches)[0] for _ in range(config.batchnorm_batches)])
        return _validate(model, architecture, synthetic_validation, real_train, real_held_out)

    bar = tqdm(
        total=config.steps,
        initial=state.step,
        unit="step",
        disable=not config.progress,
        mininterval=1.0 if sys.stderr.isatty() else 30.0,
        dynamic_ncols=True,
    )
    started = time.perf_counter()
    base_elapsed = state.elapsed_s
    last_checkpoint = last_validation = started
    model.train()
    warming_up = None
    batches = iter(loader)
    for images, labels in batches:
        elapsed = base_elapsed + time.perf_counter() - started
        progress = progress_of(state.step, elapsed)
        if progress >= 1.0:
            break
        if warming_up != (progress < config.warmup_fraction):
            warming_up = progress < config.warmup_fraction
            loss_fn.update_binary_loss("dice_loss" if warming_up else "lovasz_hinge")
        lr = learning_rate(config.lr, progress)
        for group in optimizer.param_groups:
            group["lr"] = lr * group["scale"]
        images = images.to(device, non_blocking=True)
        images = images.contiguous(memory_format=torch.channels_last)
        labels = labels.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast_enabled):
            prediction = model(images)
        loss = loss_fn(prediction.float(), labels.clone()).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()

        value = float(loss.detach())
        if math.isfinite(value):
            state.loss_ema = (
                value if state.loss_ema is None else 0.98 * state.loss_ema + 0.02 * value
            )
        state.step += 1
        now = time.perf_counter()
        state.elapsed_s = base_elapsed + now - started
        bar.update(1)
        bar.set_postfix(
            loss=f"{state.loss_ema:.3f}" if state.loss_ema is not None else "nan",
            lr=f"{lr:.1e}",
            left=_left(budget_s, state.elapsed_s),
            refresh=False,
        )
        if now - last_validation >= config.validate_every_minutes * 60:
            record = {"step": state.step, "elapsed_s": round(state.elapsed_s, 1),
                      "loss": state.loss_ema, "lr": lr, **validate()}  # fmt: skip
            state.history.append(record)
            bar.write(_summary(record))
            last_validation = time.perf_counter()
        if now - last_checkpoint >= config.checkpoint_every_minutes * 60:
            save_checkpoint(
                checkpoint_path, architecture, config.as_dict(), model, optimizer, state
            )
            last_checkpoint = time.perf_counter()
    bar.close()

    final = {"step": state.step, "elapsed_s": round(state.elapsed_s, 1), "loss": state.loss_ema,
             **validate()}  # fmt: skip
    state.history.append(final)
    print(_summary(final), file=sys.stderr)
    save_checkpoint(checkpoint_path, architecture, config.as_dict(), model, optimizer, state)
    metrics = {
        "name": config.export_name,
        "final": final,
        "training": _provenance(config, device, state, model),
        "history": state.history,
    }
    model_path = export_model(
        model,
        architecture,
        config.out / config.export_name,
        metadata={k: metrics[k] for k in ("name", "final", "training")},
    )
    (config.out / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    return TrainResult(model_path, checkpoint_path, metrics)


def parameter_groups(model: nn.Module, head_scale: float) -> list[dict[str, Any]]:
    """Backbone at the base learning rate, output heads x`head_scale`, pixel classifier x2 that.

    The output heads (1x1 convolution + batch norm per output) and InstanSeg's small pixel
    classifier need weights far from their initial scale (sharp masks need logits that change by
    ~10 over a nucleus radius). Adam moves every weight by about the learning rate per step, so at
    the backbone's rate they take thousands of steps to get there; on a CPU budget that is most
    of the run. A larger rate for these few thousand parameters fixes that; the cosine schedule
    still scales every group down together.
    """
    classifier = {id(p) for p in model.pixel_classifier.parameters()}
    heads = {id(p) for n, p in model.named_parameters() if ".final_block." in n}
    groups: dict[str, list[nn.Parameter]] = {"backbone": [], "heads": [], "classifier": []}
    for parameter in model.parameters():
        key = (
            "classifier"
            if id(parameter) in classifier
            else "heads"
            if id(parameter) in heads
            else "backbone"
        )
        groups[key].append(parameter)
    scales = {"backbone": 1.0, "heads": head_scale, "classifier": 2 * head_scale}
    return [{"params": groups[k], "scale": scales[k], "name": k} for k in groups if groups[k]]


def recalibrate_batchnorm(model: nn.Module, batches: list[torch.Tensor]) -> None:
    """Recompute batch-norm running statistics from `batches` with the current weights.

    During a short run the weights move faster than the running averages (momentum 0.05)
    follow, so eval mode (validation, the exported model) would see stale statistics; the seed
    map then misses its threshold. This is `torch.optim.swa_utils.update_bn`, which leaves the
    model in its previous mode.
    """
    from torch.optim.swa_utils import update_bn

    device = next(model.parameters()).device
    inputs = [b.to(device).contiguous(memory_format=torch.channels_last) for b in batches]
    with torch.no_grad():
        update_bn(inputs, model)


def _validate(
    model: nn.Module,
    architecture: Architecture,
    synthetic: list[SyntheticTile],
    real_train: list[LabelledTile],
    real_held_out: list[LabelledTile],
) -> dict[str, Any]:
    predictor = Predictor(torchscript_module(model, architecture), device="cpu", precision="fp32")
    out: dict[str, Any] = {"synthetic_held_out": score_synthetic(predictor, synthetic).as_dict()}
    if real_train:
        out["nucls_train"] = score_nucls(predictor, real_train, architecture.pixel_size).as_dict()
    if real_held_out:
        out["nucls_held_out"] = score_nucls(
            predictor, real_held_out, architecture.pixel_size
        ).as_dict()
    return out


def _summary(record: dict[str, Any]) -> str:
    parts = [f"step {record['step']}", f"{record['elapsed_s'] / 60:.1f} min"]
    if record.get("loss") is not None:
        parts.append(f"loss {record['loss']:.3f}")
    for key in ("synthetic_held_out", "nucls_train", "nucls_held_out"):
        if key in record:
            parts.append(
                f"{key} F1 {record[key]['f1']:.3f} IoU {record[key]['mean_matched_iou']:.3f}"
            )
    return "validation: " + ", ".join(parts)


def _left(budget_s: float | None, elapsed: float) -> str:
    return "-" if budget_s is None else f"{max(0.0, budget_s - elapsed) / 60:.1f}min"


def _provenance(
    config: TrainConfig, device: torch.device, state: TrainState, model: nn.Module
) -> dict[str, Any]:
    hardware = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} thread(s)"
    )
    return {
        "steps": state.step,
        "minutes": round(state.elapsed_s / 60, 1),
        "device": str(device),
        "hardware": hardware,
        "torch": torch.__version__,
        "instanseg": importlib.metadata.version("instanseg-torch"),
        "parameters": parameter_count(model),
        "config": replace(config, out=Path(".")).as_dict(),
    }


def _one_thread_per_worker(_: int) -> None:
    torch.set_num_threads(1)
