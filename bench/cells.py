"""Cell index: build time and query latencies for a viewer over a million cells.

Writes a synthetic cell table (CELL_SCHEMA, octagonal outlines of 8-16 µm nuclei spread over a
100,000² px slide at 0.25 µm/px) as Parquet, then measures what the gateway does with it
(`tessera.stitching.cell_index`): the index built from the file (read included), counts of the
cells in boxes a viewer asks for (from a phone screen at full resolution to the whole slide),
and the cell under a point (half of the points on a cell, half anywhere).

    .venv/bin/python bench/cells.py                 # 1,000,000 cells
    .venv/bin/python bench/cells.py --cells 200000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tessera.stitching.cell_index import CellIndex
from tessera.stitching.cells import CELL_SCHEMA

SIDES = 8


def synthetic_table(n: int, size: float, mpp: float, rng: np.random.Generator) -> pa.Table:
    """`n` octagonal cells at random places (rows in id order, as the merger writes them)."""
    cx, cy = rng.uniform(0, size, n), rng.uniform(0, size, n)
    radius = rng.uniform(4, 8, n) / mpp  # µm -> px
    t = np.linspace(0, 2 * np.pi, SIDES, endpoint=False)
    ring = np.concatenate([t, t[:1]])
    xs = cx[:, None] + radius[:, None] * np.cos(ring)
    ys = cy[:, None] + radius[:, None] * np.sin(ring)
    points = np.stack([xs, ys], axis=-1).astype(np.float32).reshape(-1)
    offsets = np.arange(n + 1, dtype=np.int32) * (SIDES + 1)
    contour = pa.ListArray.from_arrays(
        pa.array(offsets), pa.FixedSizeListArray.from_arrays(pa.array(points), 2)
    )
    area = np.pi * radius**2
    arrays = {
        "id": pa.array(np.arange(1, n + 1, dtype=np.uint64)),
        "tile_index": pa.array(np.zeros(n, np.int64)),
        "centroid_x": pa.array(cx),
        "centroid_y": pa.array(cy),
        "area_px": pa.array(area),
        "area_um2": pa.array(area * mpp**2),
        "bbox_x0": pa.array(cx - radius),
        "bbox_y0": pa.array(cy - radius),
        "bbox_x1": pa.array(cx + radius),
        "bbox_y1": pa.array(cy + radius),
        "contour": contour,
        "truncated": pa.array(np.zeros(n, bool)),
    }
    return pa.table({name: arrays[name] for name in CELL_SCHEMA.names}, schema=CELL_SCHEMA)


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 4),
            "p99_ms": round(float(np.percentile(ms, 99)), 4)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--size", type=float, default=100_000, help="slide side, level-0 px")
    parser.add_argument("--mpp", type=float, default=0.25)
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    table = synthetic_table(args.cells, args.size, args.mpp, rng)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cells.parquet"
        pq.write_table(table, path)
        file_mb = path.stat().st_size / 1e6
        builds = []
        for _ in range(3):
            t0 = time.perf_counter()
            index = CellIndex.from_parquet(path)
            builds.append(time.perf_counter() - t0)

    figures: dict[str, object] = {
        "cells": len(index),
        "parquet_mb": round(file_mb, 1),
        "index_mb": round(index.nbytes / 1e6, 1),
        "strip_height_px": index.strip_height,
        "build_s": round(min(builds), 3),
    }
    # boxes as a viewer asks for them: 390 to 1440 screen px wide, 1x to 1/256x zoom
    widths = rng.uniform(390, 1440, args.queries) * 2.0 ** rng.integers(0, 9, args.queries)
    heights = widths * rng.uniform(0.6, 2.2, args.queries)
    x0, y0 = (
        rng.uniform(-0.2, 1, args.queries) * args.size,
        rng.uniform(-0.2, 1, args.queries) * args.size,
    )
    timings, counts = [], []
    for k in range(args.queries):
        t0 = time.perf_counter()
        counts.append(index.count(x0[k], y0[k], x0[k] + widths[k], y0[k] + heights[k]))
        timings.append(time.perf_counter() - t0)
    figures["count"] = {**percentiles(timings), "median_cells": int(np.median(counts))}
    t0 = time.perf_counter()
    whole = index.count(0, 0, args.size, args.size)
    figures["count_whole_slide_ms"] = round((time.perf_counter() - t0) * 1000, 3)
    assert whole == args.cells, whole

    on_cell = rng.integers(0, args.cells, args.queries // 2)
    cx = table.column("centroid_x").to_numpy()
    cy = table.column("centroid_y").to_numpy()
    px = np.concatenate([cx[on_cell], rng.uniform(0, args.size, args.queries - len(on_cell))])
    py = np.concatenate([cy[on_cell], rng.uniform(0, args.size, args.queries - len(on_cell))])
    timings, hits = [], 0
    for x, y in zip(px.tolist(), py.tolist(), strict=True):
        t0 = time.perf_counter()
        hits += index.at(x, y) is not None
        timings.append(time.perf_counter() - t0)
    figures["at"] = {**percentiles(timings), "hit_fraction": round(hits / len(px), 3)}
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
