"""The ten real NuCLS H&E tiles: loading, rescaling to the model's pixel size, augmentation.

Pixel size: the data card says NuCLS fields of view are scanned at 0.2 um/px but does not say
whether CellViT++ rescaled them. The nuclei settle it: their median equivalent diameter is 21 px
(10th-90th percentile 14-28 px), while lymphocytes in CMU-1 at 0.499 um/px measure 10-12 px, i.e.
these tiles are at about 0.25 um/px (40x). `SOURCE_PIXEL_SIZE_UM` records that estimate; at the
model's 0.5 um/px a tile becomes 128 x 128 with nuclei ~10 px across.

Ten tiles are very little data, so every training sample is a 2 x 2 mosaic of four independently
augmented crops (scale jitter, 90-degree rotations, flips, stain and colour jitter, blur, JPEG).
Two tiles (`HELD_OUT`) are kept out of training for an honest real-data validation figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image
from scipy import ndimage as ndi

from tessera.segmentation.normalisation import NormalisationStats, normalisation_stats
from tessera.segmentation.settings import ModelSettings
from tessera.segmentation.synthetic import jpeg_roundtrip

SOURCE_PIXEL_SIZE_UM = 0.25
HELD_OUT = ("nucls_train_4", "nucls_train_8")

# Ruifrok & Johnston H, E and a residual vector completing the basis (optical density, R, G, B).
_STAINS = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
_STAINS = _STAINS / np.linalg.norm(_STAINS, axis=1, keepdims=True)
_UNMIX = np.linalg.inv(_STAINS)


@dataclass(frozen=True)
class LabelledTile:
    name: str
    image: np.ndarray  # (H, W, 3) uint8
    labels: np.ndarray  # (H, W) int32


def default_data_dir() -> Path:
    """`TESSERA_NUCLS_DIR`, else `data/nuclei_he_nucls` in the repository."""
    return ModelSettings().nucls_dir


def load_tiles(root: Path | None = None) -> list[LabelledTile]:
    """Every `images/<name>.png` with its `masks/<name>_inst.tif`, sorted by name."""
    root = root or default_data_dir()
    tiles = []
    for image_path in sorted((root / "images").glob("*.png")):
        name = image_path.stem
        mask_path = root / "masks" / f"{name}_inst.tif"
        image = np.asarray(Image.open(image_path).convert("RGB"))
        labels = tifffile.imread(mask_path).astype(np.int32)
        tiles.append(LabelledTile(name, image, labels))
    if not tiles:
        raise FileNotFoundError(f"no NuCLS tiles under {root / 'images'}")
    return tiles


def split_tiles(
    tiles: list[LabelledTile], held_out: tuple[str, ...] = HELD_OUT
) -> tuple[list[LabelledTile], list[LabelledTile]]:
    """(training tiles, held-out tiles)."""
    return [t for t in tiles if t.name not in held_out], [t for t in tiles if t.name in held_out]


def rescale(image: np.ndarray, labels: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Resize by `factor`: the image with antialiasing, the labels by nearest neighbour."""
    height, width = labels.shape
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    scaled = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
    scaled_labels = np.asarray(
        Image.fromarray(labels.astype(np.int32)).resize(size, Image.Resampling.NEAREST)
    )
    return scaled, scaled_labels.astype(np.int32)


def resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label image (used to compare at the tile's own resolution)."""
    resized = Image.fromarray(labels.astype(np.int32)).resize(
        (shape[1], shape[0]), Image.Resampling.NEAREST
    )
    return np.asarray(resized).astype(np.int32)


def to_model_resolution(tile: LabelledTile, model_pixel_size: float) -> LabelledTile:
    image, labels = rescale(tile.image, tile.labels, SOURCE_PIXEL_SIZE_UM / model_pixel_size)
    return LabelledTile(tile.name, image, labels)


def stain_jitter(rng: np.random.Generator, image: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Perturb hematoxylin and eosin amounts (colour deconvolution), then brightness and colour."""
    density = -np.log10((image.astype(np.float32) + 1) / 256)
    amounts = density.reshape(-1, 3) @ _UNMIX
    scale = 1 + strength * rng.uniform(-0.3, 0.3, 3)
    shift = strength * rng.uniform(-0.05, 0.05, 3)
    density = ((amounts * scale + shift) @ _STAINS).reshape(image.shape)
    out = 256 * np.power(10.0, -np.clip(density, 0, None)) - 1
    gains = 1 + strength * rng.uniform(-0.06, 0.06, 3)
    contrast = 1 + strength * rng.uniform(-0.2, 0.2)
    mean = out.mean()
    out = (out - mean) * contrast + mean * rng.uniform(0.93, 1.07)
    grey = out.mean(axis=2, keepdims=True)
    saturation = 1 + strength * rng.uniform(-0.25, 0.25)
    out = (grey + (out - grey) * saturation) * gains
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def augmented_crop(
    rng: np.random.Generator, tile: LabelledTile, size: int, model_pixel_size: float
) -> tuple[np.ndarray, np.ndarray]:
    """A normalised float32 `(size, size, 3)` crop of `tile` at about the model's resolution.

    The statistics come from the whole augmented tile (slide-like), not from the crop.
    """
    factor = (
        SOURCE_PIXEL_SIZE_UM / model_pixel_size * np.exp(rng.uniform(np.log(0.8), np.log(1.25)))
    )
    image, labels = rescale(tile.image, tile.labels, factor)
    k = int(rng.integers(4))
    image, labels = np.rot90(image, k), np.rot90(labels, k)
    if rng.random() < 0.5:
        image, labels = image[:, ::-1], labels[:, ::-1]
    image = stain_jitter(rng, np.ascontiguousarray(image))
    stats = normalisation_stats(image).jittered(rng, 0.05)
    image, labels = _crop_or_pad(rng, image, labels, size, stats)
    if rng.random() < 0.3:
        sigma = rng.uniform(0.3, 1.0)
        image = np.clip(ndi.gaussian_filter(image.astype(np.float32), (sigma, sigma, 0)), 0, 255)
        image = image.astype(np.uint8)
    if rng.random() < 0.3:
        image = jpeg_roundtrip(image, int(rng.integers(40, 96)))
    return stats.apply(image), labels


def mosaic(
    rng: np.random.Generator,
    tiles: list[LabelledTile],
    size: int,
    model_pixel_size: float,
    cell: int = 128,
) -> tuple[np.ndarray, np.ndarray]:
    """A `(size, size, 3)` normalised image made of independently augmented `cell`-pixel crops.

    `cell` is about a whole NuCLS tile at 0.5 um/px, so each crop keeps its tile's context; a
    256 px sample is a 2 x 2 mosaic, a 128 px one a single crop. Labels are unique across crops.
    """
    grid = max(1, size // cell)
    cell = size // grid
    image = np.zeros((size, size, 3), dtype=np.float32)
    labels = np.zeros((size, size), dtype=np.int32)
    offset = 0
    for row in range(grid):
        for col in range(grid):
            tile = tiles[int(rng.integers(len(tiles)))]
            crop, crop_labels = augmented_crop(rng, tile, cell, model_pixel_size)
            ids, relabelled = np.unique(crop_labels, return_inverse=True)
            relabelled = relabelled.reshape(crop_labels.shape).astype(np.int32)
            if ids[0] != 0:
                relabelled += 1
            window = (slice(row * cell, (row + 1) * cell), slice(col * cell, (col + 1) * cell))
            image[window] = crop
            labels[window] = np.where(relabelled > 0, relabelled + offset, 0)
            offset = int(labels.max())
    return image, labels


def _crop_or_pad(
    rng: np.random.Generator,
    image: np.ndarray,
    labels: np.ndarray,
    size: int,
    stats: NormalisationStats,
) -> tuple[np.ndarray, np.ndarray]:
    """A random `size` window; where the tile is smaller, clear glass (the stats' high end)."""
    height, width = labels.shape
    out = np.empty((size, size, 3), dtype=np.uint8)
    out[:] = np.clip(np.asarray(stats.high), 0, 255).astype(np.uint8)
    out_labels = np.zeros((size, size), dtype=np.int32)
    y = int(rng.integers(0, height - size + 1)) if height > size else 0
    x = int(rng.integers(0, width - size + 1)) if width > size else 0
    h, w = min(size, height), min(size, width)
    oy = int(rng.integers(0, size - h + 1))
    ox = int(rng.integers(0, size - w + 1))
    out[oy : oy + h, ox : ox + w] = image[y : y + h, x : x + w]
    out_labels[oy : oy + h, ox : ox + w] = labels[y : y + h, x : x + w]
    return out, out_labels
