"""The batched forward pass of Tessera's inference service.

Input: a uint8 RGB batch `(B, H, W, 3)` already at the model's pixel size, and the slide's
normalisation statistics (computed once per slide, see `normalisation.py`). Output: int32 labels
`(B, H, W)`, 0 = background. The scripted InstanSeg module does its own padding and
post-processing; this module decides where and how it runs:

- device `auto`: CUDA when present, else CPU;
- precision `auto`: fp16 autocast on CUDA; bf16 autocast on CPUs with native bf16 (AVX512-BF16 or
  AMX, where oneDNN reports support; there it halves the time with identical labels), else fp32:
  on an AVX2-only CPU bf16 is emulated and about 8x slower;
- channels-last memory format for the input and the weights (faster convolutions on both);
- `torch.inference_mode`, so no autograd bookkeeping;
- on CUDA, batches padded with white tiles to a power of two: the scripted module compiles
  (profiles and fuses) once per input shape, seconds each on a GPU, so a job's ragged last
  batch would otherwise pay a compile; `warm_up` compiles every padded shape of a tile size
  once per process, before its first batch;
- fragments `auto`: InstanSeg's fragment clean-up (an iterative flood fill, more than half of a
  CPU forward pass) runs on the returned labels with connected components on a CPU
  (`fragments.py`), inside the model on CUDA, where the flood fill is cheap and the CPU is the
  scarce side.
"""

from __future__ import annotations

import inspect
import warnings
from contextlib import AbstractContextManager, nullcontext
from typing import Literal

import numpy as np
import torch
from torch import nn

from tessera.segmentation.fragments import remove_fragments
from tessera.segmentation.normalisation import NormalisationStats

Precision = Literal["auto", "fp32", "bf16", "fp16"]
Fragments = Literal["auto", "model", "labels"]
_MAX_EXACT_LABEL = 2**24  # float32 labels are exact integers only up to here


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU (otherwise it is emulated and slow)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: Precision, device: torch.device) -> str:
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "fp16"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def resolve_fragments(fragments: Fragments, device: torch.device, module: nn.Module) -> str:
    """Where fragments are cleaned up: `model` (InstanSeg's flood fill) or `labels` (ours)."""
    if not _accepts(module, "cleanup_fragments"):
        return "model"  # a module without the switch does whatever it does
    if fragments != "auto":
        return fragments
    return "model" if device.type == "cuda" else "labels"


def _accepts(module: nn.Module, argument: str) -> bool:
    if isinstance(module, torch.jit.ScriptModule):
        return any(a.name == argument for a in module.forward.schema.arguments)
    return argument in inspect.signature(module.forward).parameters


class Predictor:
    """A model placed on a device with a chosen precision; call it with uint8 batches.

    `module` is a TorchScript InstanSeg model (or its eager `InstanSeg_Torchscript` wrapper).
    """

    def __init__(
        self,
        module: nn.Module,
        device: str = "auto",
        precision: Precision = "auto",
        channels_last: bool = True,
        pad_batches: bool | None = None,
        fragments: Fragments = "auto",
    ) -> None:
        self.device = resolve_device(device)
        self.fragments = resolve_fragments(fragments, self.device, module)
        self.pad_batches = self.device.type == "cuda" if pad_batches is None else pad_batches
        self._warm: set[tuple[int, int, int]] = set()
        self.precision = resolve_precision(precision, self.device)
        self.channels_last = channels_last
        module = module.to(self.device).eval()
        if channels_last:
            module = module.to(memory_format=torch.channels_last)
        self.module = module

    def warm_up(
        self, height: int, width: int, max_batch: int, stats: NormalisationStats, calls: int = 2
    ) -> None:
        """Compile every padded batch shape up to `max_batch` tiles of this size (no-op when
        batches are not padded, or already done)."""
        if not self.pad_batches:
            return
        for size in batch_shapes(max_batch):
            if (size, height, width) not in self._warm:
                white = np.full((size, height, width, 3), 255, np.uint8)
                for _ in range(calls):
                    self._forward(white, stats)
                self._warm.add((size, height, width))

    def __call__(
        self, batch: np.ndarray, stats: NormalisationStats, *, clean: bool = True
    ) -> np.ndarray:
        """Labels `(B, H, W)` of a batch; `clean=False` leaves fragments for `clean` to do
        later (or elsewhere: the inference worker does it on its post-processing threads)."""
        if batch.ndim != 4 or batch.shape[-1] != 3:
            raise ValueError(f"expected a (B, H, W, 3) batch, got shape {batch.shape}")
        n = batch.shape[0]
        if self.pad_batches and n and padded_size(n) != n:
            pad = np.full((padded_size(n) - n, *batch.shape[1:]), 255, np.uint8)
            labels = self._forward(np.concatenate([batch, pad]), stats)[:n]
        else:
            labels = self._forward(batch, stats)
        if clean:
            for k in range(labels.shape[0]):
                labels[k] = self.clean(labels[k])
        return labels

    def clean(self, labels: np.ndarray) -> np.ndarray:
        """One tile's labels with fragments cleaned, where the model left that to the labels."""
        return remove_fragments(labels) if self.fragments == "labels" else labels

    def _forward(self, batch: np.ndarray, stats: NormalisationStats) -> np.ndarray:
        x = torch.from_numpy(stats.apply(batch)).permute(0, 3, 1, 2)
        x = x.to(self.device, non_blocking=True)
        x = x.contiguous(memory_format=torch.channels_last) if self.channels_last else x
        # InstanSeg's post-processing builds sparse tensors it knows to be valid: opting out of
        # torch's invariant checks explicitly silences one per-call warning, the filter the other.
        with (
            torch.inference_mode(),
            self._autocast(),
            torch.sparse.check_sparse_tensor_invariants(enable=False),
            warnings.catch_warnings(),
        ):
            warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta", UserWarning)
            if self.fragments == "labels":
                labels = self.module(x, cleanup_fragments=False)
            else:
                labels = self.module(x)
        labels = labels[:, 0].float().cpu().numpy()
        if labels.size and labels.max() >= _MAX_EXACT_LABEL:
            raise OverflowError("more labels in one tile than float32 can number exactly")
        return labels.astype(np.int32)

    def _autocast(self) -> AbstractContextManager[object]:
        if self.precision == "fp32":
            return nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)


def padded_size(n: int) -> int:
    """The batch size `n` tiles are padded to: the next power of two."""
    return 1 << max(0, n - 1).bit_length()


def batch_shapes(max_batch: int) -> list[int]:
    """Every padded batch size up to `max_batch` tiles: 1, 2, 4, ..."""
    return [1 << k for k in range(padded_size(max(1, max_batch)).bit_length())]
