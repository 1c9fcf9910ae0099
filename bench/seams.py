"""Seam check: is every nucleus counted exactly once, and are tile borders as dense as interiors?

Writes a synthetic slide, plans the grid, selects tissue tiles from an overview read through
OpenSlide, "segments" each tile with ground-truth labels rendered for the tile's read box (so no
model is needed), and pushes every tile through the real path: ownership -> encoding -> decoding
-> label writer + cell table, in a shuffled order. Then it compares the cell table with the
ground truth and prints the figures.

    .venv/bin/python bench/seams.py                      # 6000² slide, 512 tiles, halo 64
    .venv/bin/python bench/seams.py --halo 4             # negative control: halo < nuclei

Exit status 1 when a nucleus is missed or duplicated (with a halo larger than the nuclei).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import zarr

from tessera.slides.access import open_slide, require_mpp, slide_info
from tessera.slides.formats import Slide
from tessera.slides.reader import read_box, read_overview
from tessera.slides.scene import Nuclei, Scene
from tessera.slides.synth import load_scene, write_synthetic_slide
from tessera.stitching.chunks import open_array
from tessera.stitching.encoding import encode_instances
from tessera.stitching.outputs import CellJobOutputs
from tessera.stitching.ownership import IdPacking, owned_instances
from tessera.tiling.grid import TileGrid, plan_grid
from tessera.tiling.tissue import (
    overview_scale,
    select_tiles,
    tile_tissue_fractions,
    tissue_mask,
)

BORDER_BAND_PX = 16  # grid pixels either side of an interior core boundary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=6000, help="slide side, level-0 px")
    parser.add_argument("--mpp", type=float, default=0.25)
    parser.add_argument("--target-mpp", type=float, default=0.5)
    parser.add_argument("--tile-size", type=int, default=512)
    parser.add_argument("--halo", type=int, default=64)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        figures = run(args, work)
    print(json.dumps(figures, indent=2))
    ok = figures["duplicated"] == 0 and figures["missed_in_selected_tiles"] == 0
    return 0 if ok or args.halo < 2 * figures["max_nucleus_radius_px"] else 1


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    slide = write_synthetic_slide(
        work / "seams.svs", args.size, args.size, mpp=args.mpp, seed=args.seed
    )
    t_synth = time.perf_counter() - t0
    scene = load_scene(slide.ground_truth)

    handle = open_slide(slide.path, "seams.svs")
    info = slide_info(handle, "seams.svs")
    grid = plan_grid(
        info.width,
        info.height,
        slide_mpp=require_mpp(info),
        target_mpp=args.target_mpp,
        tile_size=args.tile_size,
        halo=args.halo,
    )
    scale = overview_scale(info.width, info.height, require_mpp(info))
    overview = read_overview(handle, scale)
    mask = tissue_mask(overview)
    selected = select_tiles(tile_tissue_fractions(grid, mask, scale))
    alignment = _alignment(handle, grid, scene, selected[: min(8, len(selected))])
    handle.close()

    packing = IdPacking.for_tiles(grid.n_tiles)
    outputs = CellJobOutputs.create(work / "job", grid, packing)
    order = list(selected)
    random.Random(args.seed).shuffle(order)
    sizes, gt_of_cell = [], {}
    t1 = time.perf_counter()
    for k, index in enumerate(order):
        tile = grid.tile(index)
        r = tile.read
        labels = scene.render_labels(r.x, r.y, r.width, r.height, grid.level0_per_px)
        owned = owned_instances(labels, tile, packing)
        for inst in owned:
            iy, ix = np.argwhere(inst.mask)[0]
            gt_of_cell[inst.global_id] = int(labels[inst.y - r.y + iy, inst.x - r.x + ix])
        payload = encode_instances(index, (r.x, r.y), owned)
        sizes.append(len(payload))
        outputs.apply(payload)  # decodes, as the merger will
        if k % 16 == 15:
            outputs.flush()
    t2 = time.perf_counter()
    summary = outputs.finalise()  # after the last tile: on the job's critical path
    t_finalise = time.perf_counter() - t2
    t_tiles = t2 - t1

    cells = pq.read_table(work / "job" / "cells.parquet")
    nuclei = scene.nuclei()
    counts = Counter(gt_of_cell[int(i)] for i in cells.column("id").to_numpy())
    in_selected = _nuclei_in_tiles(grid, nuclei, set(selected))
    missed = [n for n in in_selected if counts.get(n, 0) == 0]
    group = zarr.open_group(str(work / "job" / "labels.zarr"), mode="r")
    labels0 = np.asarray(open_array(group, "0")[:])

    s = grid.level0_per_px
    cx = cells.column("centroid_x").to_numpy() / s
    cy = cells.column("centroid_y").to_numpy() / s
    gx, gy = nuclei.x / s, nuclei.y / s
    tissue = scene.render_tissue(0, 0, grid.width, grid.height, s)
    band = _border_band(grid)
    area_um2 = (grid.mpp or 1.0) ** 2
    out_band, out_inner = _split(band, cx, cy)
    gt_band, gt_inner = _split(band, gx, gy)
    band_mm2 = np.count_nonzero(band & tissue) * area_um2 / 1e6
    inner_mm2 = np.count_nonzero(~band & tissue) * area_um2 / 1e6
    return {
        "slide": f"{args.size}x{args.size} at {args.mpp} µm/px, seed {args.seed}",
        "grid": f"{grid.cols}x{grid.rows} tiles of {grid.tile_size} (halo {grid.halo}) "
        f"at {grid.mpp} µm/px",
        "max_nucleus_radius_px": round(scene.max_radius / s, 2),
        "tiles_selected": len(selected),
        "tiles_total": grid.n_tiles,
        "gt_nuclei": len(nuclei),
        "gt_nuclei_in_selected_tiles": len(in_selected),
        "cells": int(summary["cell_count"]),
        "duplicated": sum(1 for c in counts.values() if c > 1),
        "missed_in_selected_tiles": len(missed),
        "label_image_ids": int(len(np.unique(labels0)) - 1),
        "density_per_mm2": {
            "border_band": round(out_band / band_mm2, 1) if band_mm2 else None,
            "interior": round(out_inner / inner_mm2, 1) if inner_mm2 else None,
            "gt_border_band": round(gt_band / band_mm2, 1) if band_mm2 else None,
            "gt_interior": round(gt_inner / inner_mm2, 1) if inner_mm2 else None,
        },
        "encoded_bytes_per_tile": {
            "mean": int(np.mean(sizes)) if sizes else 0,
            "max": int(np.max(sizes)) if sizes else 0,
        },
        "nucleus_pixels_dark": alignment,
        "seconds": {
            "synth": round(t_synth, 2),
            "tiles": round(t_tiles, 2),
            "finalise": round(t_finalise, 2),
        },
    }


def _alignment(handle: Slide, grid: TileGrid, scene: Scene, tiles: list[int]) -> float | None:
    """Share of ground-truth nucleus pixels that are dark in the slide read at grid scale."""
    hits = total = 0
    for index in tiles:
        r = grid.tile(index).read
        rgb = read_box(handle, grid, r)
        labels = scene.render_labels(r.x, r.y, r.width, r.height, grid.level0_per_px)
        inside = labels > 0
        hits += int(np.count_nonzero(rgb[..., 0][inside] < 160))
        total += int(np.count_nonzero(inside))
    return round(hits / total, 4) if total else None


def _nuclei_in_tiles(grid: TileGrid, nuclei: Nuclei, selected: set[int]) -> list[int]:
    s = grid.level0_per_px
    out = []
    for nid, x, y in zip(nuclei.id, nuclei.x, nuclei.y, strict=True):
        if grid.owner(min(x / s, grid.width - 1e-6), min(y / s, grid.height - 1e-6)) in selected:
            out.append(int(nid))
    return out


def _border_band(grid: TileGrid) -> np.ndarray:
    """Grid pixels within BORDER_BAND_PX of a core boundary between two tiles."""
    c = grid.core_size

    def near(n: int) -> np.ndarray:
        pos = np.arange(n) + 0.5
        dist = np.abs(pos - np.rint(pos / c) * c)
        inner = (np.rint(pos / c) > 0) & (np.rint(pos / c) * c < n)
        flags: np.ndarray = (dist < BORDER_BAND_PX) & inner
        return flags

    band: np.ndarray = near(grid.height)[:, None] | near(grid.width)[None, :]
    return band


def _split(band: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[int, int]:
    h, w = band.shape
    xi = np.clip(x.astype(int), 0, w - 1)
    yi = np.clip(y.astype(int), 0, h - 1)
    in_band = band[yi, xi]
    return int(in_band.sum()), int((~in_band).sum())


if __name__ == "__main__":
    sys.exit(main())
