"""Streaming writer of synthetic Aperio SVS slides with ground truth.

The pyramid is written tile by tile from a generator (tifffile compresses each tile as it comes),
and every level is rendered from the analytic scene rather than downsampled from level 0, so
memory stays at a few tiles whatever the slide size. The page order follows Aperio's layout
(level 0, a stripped thumbnail, then the reduced levels) and the ImageDescription starts with
"Aperio" and carries `MPP`, which is what makes OpenSlide report vendor `aperio` and
`openslide.mpp-x`.

Ground truth is a Parquet table of nuclei (centre, semi-axes, angle in level-0 pixels) whose
schema metadata holds the scene spec, so `load_scene` rebuilds the exact scene and can render
ground-truth labels or tissue for any region.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tifffile

from tessera.slides.scene import Nuclei, Scene, SceneSpec

SCENE_METADATA_KEY = b"tessera.scene"
_LIBRARY = "Aperio Image Library v12.0.5"  # a version string real SVS files carry
_THUMBNAIL_MAX_SIDE = 768


@dataclass(frozen=True)
class SyntheticSlide:
    """What `write_synthetic_slide` wrote."""

    path: Path
    ground_truth: Path
    width: int
    height: int
    mpp: float
    level_dimensions: tuple[tuple[int, int], ...]
    nuclei: int
    seconds: float


def pyramid_factors(width: int, height: int, *, min_side: int = 1024) -> list[int]:
    """Downsample factors (powers of 4, as Aperio writes) until the level fits `min_side`."""
    factors = [1]
    while (
        max(width, height) // factors[-1] > min_side
        and min(width, height) // (factors[-1] * 4) >= 1
    ):
        factors.append(factors[-1] * 4)
    return factors


def default_ground_truth_path(path: Path) -> Path:
    """Where the ground truth of `slide.svs` goes by default: `slide.nuclei.parquet`."""
    return path.with_name(path.stem + ".nuclei.parquet")


def write_synthetic_slide(
    path: str | os.PathLike[str],
    width: int,
    height: int,
    *,
    mpp: float = 0.25,
    seed: int = 0,
    tissue_fraction: float = 0.5,
    tile_size: int = 256,
    quality: int = 85,
    ground_truth: str | os.PathLike[str] | None = None,
    **scene_options: object,
) -> SyntheticSlide:
    """Write a tiled-JPEG Aperio SVS of any size plus its ground-truth nuclei table.

    `scene_options` are further `SceneSpec` fields (nucleus spacing, radii, occupancy).
    The slide is written to a temporary name and renamed, so a reader never sees half a file.
    """
    started = time.perf_counter()
    path = Path(path)
    gt_path = Path(ground_truth) if ground_truth else default_ground_truth_path(path)
    spec = SceneSpec(
        width=width,
        height=height,
        mpp=mpp,
        seed=seed,
        tissue_fraction=tissue_fraction,
        **scene_options,
    )
    scene = Scene(spec)
    factors = pyramid_factors(width, height)
    dims = [(width // f, height // f) for f in factors]
    magnification = 40 if mpp < 0.375 else 20
    common = f"AppMag = {magnification}|MPP = {mpp:.4f}|Filename = tessera-synthetic-{seed}"
    resolution = (1e4 / mpp, 1e4 / mpp)  # pixels per centimetre
    # JPEG shrinks tiles 10-30x; BigTIFF only when even that might cross 4 GiB.
    bigtiff = width * height * 3 > 2**32
    part = path.with_name(path.name + ".part")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tifffile.TiffWriter(part, bigtiff=bigtiff) as tif:
        for level, (factor, (w, h)) in enumerate(zip(factors, dims, strict=True)):
            if level == 0:
                desc = (
                    f"{_LIBRARY}\r\n{width}x{height} [0,0 {width}x{height}] "
                    f"({tile_size}x{tile_size}) JPEG/RGB Q={quality}|{common}"
                )
            else:
                desc = f"{_LIBRARY}\r\n{width}x{height} -> {w}x{h} - |{common}"
            tif.write(
                _level_tiles(scene, factor, w, h, tile_size),
                shape=(h, w, 3),
                dtype=np.uint8,
                tile=(tile_size, tile_size),
                photometric="rgb",
                description=desc,
                metadata=None,
                resolution=(resolution[0] / factor, resolution[1] / factor),
                resolutionunit="CENTIMETER",
                subfiletype=0 if level == 0 else 1,
                compression="jpeg",
                compressionargs={"level": quality},
            )
            if level == 0:
                _write_thumbnail(tif, scene, common, quality)
    os.replace(part, path)
    nuclei = scene.nuclei()
    write_ground_truth(gt_path, spec, nuclei)
    return SyntheticSlide(
        path=path,
        ground_truth=gt_path,
        width=width,
        height=height,
        mpp=mpp,
        level_dimensions=tuple(dims),
        nuclei=len(nuclei),
        seconds=time.perf_counter() - started,
    )


def _level_tiles(scene: Scene, factor: int, w: int, h: int, tile: int) -> Iterator[np.ndarray]:
    seed = scene.spec.seed
    for ty in range(math.ceil(h / tile)):
        for tx in range(math.ceil(w / tile)):
            # Whole tiles past the edge too: TIFF tiles are fixed-size, the reader crops them.
            yield scene.render_rgb(
                tx * tile, ty * tile, tile, tile, factor, noise_seed=(seed, factor, ty, tx)
            )


def _write_thumbnail(tif: tifffile.TiffWriter, scene: Scene, common: str, quality: int) -> None:
    spec = scene.spec
    factor = max(spec.width, spec.height) / _THUMBNAIL_MAX_SIDE
    factor = max(factor, 1.0)
    w, h = max(1, round(spec.width / factor)), max(1, round(spec.height / factor))
    pixels = scene.render_rgb(0, 0, w, h, factor, noise_seed=(spec.seed, 0))
    tif.write(
        pixels,
        photometric="rgb",
        description=f"{_LIBRARY}\r\n{spec.width}x{spec.height} -> {w}x{h} - |{common}",
        metadata=None,
        rowsperstrip=16,
        subfiletype=1,
        compression="jpeg",
        compressionargs={"level": quality},
    )


def write_ground_truth(path: str | os.PathLike[str], spec: SceneSpec, nuclei: Nuclei) -> None:
    """Write the nuclei table with the scene spec in the Parquet schema metadata."""
    table = pa.table(
        {
            "id": pa.array(nuclei.id, pa.uint32()),
            "x": nuclei.x,
            "y": nuclei.y,
            "a": nuclei.a,
            "b": nuclei.b,
            "angle": nuclei.angle,
            "area": nuclei.area(),
        }
    )
    table = table.replace_schema_metadata({SCENE_METADATA_KEY: spec.model_dump_json().encode()})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def load_ground_truth(path: str | os.PathLike[str]) -> tuple[SceneSpec, Nuclei]:
    """Read a ground-truth table back: the scene spec and the nuclei."""
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    if SCENE_METADATA_KEY not in meta:
        raise ValueError(f"{path}: not a Tessera ground-truth table (no scene metadata)")
    spec = SceneSpec.model_validate_json(meta[SCENE_METADATA_KEY])
    col = {name: table.column(name).to_numpy() for name in table.column_names}
    nuclei = Nuclei(
        id=col["id"], x=col["x"], y=col["y"], a=col["a"], b=col["b"], angle=col["angle"]
    )
    return spec, nuclei


def load_scene(path: str | os.PathLike[str]) -> Scene:
    """Rebuild the scene a ground-truth table was written from (to render labels or tissue)."""
    spec, _ = load_ground_truth(path)
    return Scene(spec)
