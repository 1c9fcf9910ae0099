"""The training stream: half procedural tiles, half augmented NuCLS mosaics, endless and seeded.

Each (stream, data-loader worker) pair draws from its own `SeedSequence`, so workers never repeat
one another and a resumed run (a new stream number) does not replay the samples it has seen.
The samples are normalised as inference will normalise them: synthetic tiles with the statistics
a slide of their stain would give (jittered), real crops with their tile's statistics.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from tessera.segmentation.nucls import LabelledTile, mosaic
from tessera.segmentation.synthetic import generate_tile


def make_sample(
    rng: np.random.Generator,
    real_tiles: list[LabelledTile],
    size: int,
    real_fraction: float,
    pixel_size: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One normalised `(3, size, size)` image and its `(1, size, size)` labels."""
    if real_tiles and rng.random() < real_fraction:
        image, labels = mosaic(rng, real_tiles, size, pixel_size)
    else:
        tile = generate_tile(rng, size)
        image = tile.stats.jittered(rng, 0.05).apply(tile.image)
        labels = tile.labels
    return (
        torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
        torch.from_numpy(labels[None].astype(np.int32)),
    )


class SampleStream(IterableDataset):
    """An endless stream of samples; each (stream, worker) pair draws from its own seed."""

    def __init__(
        self,
        real_tiles: list[LabelledTile],
        size: int,
        real_fraction: float,
        pixel_size: float,
        seed: int,
        stream: int,
    ) -> None:
        self.real_tiles = real_tiles
        self.size = size
        self.real_fraction = real_fraction
        self.pixel_size = pixel_size
        self.seed = seed
        self.stream = stream

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = get_worker_info()
        worker = info.id if info is not None else 0
        rng = np.random.default_rng(
            np.random.SeedSequence(self.seed, spawn_key=(self.stream, worker))
        )
        while True:
            yield make_sample(rng, self.real_tiles, self.size, self.real_fraction, self.pixel_size)
