"""Quality and CPU speed of a segmentation model (default: the bundled one).

    python bench/model_quality.py [--model bundled] [--synthetic 32] [--threads 1] [--json out.json]

Prints, as Markdown tables for models/README.md:
- F1 at IoU 0.5 and mean matched IoU on held-out synthetic tiles (never drawn in training) and on
  the real NuCLS tiles, the 8 training tiles and the 2 held-out tiles reported apart;
- the time per 512 x 512 tile on this CPU in fp32, fp32 + channels-last and bf16 autocast +
  channels-last, on real tissue (three tiles of CMU-1-Small-Region, 0.499 um/px, no rescaling),
  and in fp32 on a dense synthetic tile (worst case: post-processing grows with the nuclei);
- the F1 difference between bf16 and fp32, per set and pooled over every object. bf16 may be the
  default only where it is faster and costs at most 0.01 F1; `predict.resolve_precision` picks it
  only on CPUs with native bf16.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tessera.segmentation.evaluation import score_nucls, score_synthetic
from tessera.segmentation.export import read_metadata
from tessera.segmentation.metrics import EMPTY, MatchCounts
from tessera.segmentation.normalisation import NormalisationStats, normalisation_stats
from tessera.segmentation.nucls import load_tiles, split_tiles
from tessera.segmentation.predict import Predictor, cpu_has_native_bf16
from tessera.segmentation.registry import resolve_model
from tessera.segmentation.synthetic import generate_tile, held_out_tiles

REPO = Path(__file__).resolve().parents[1]
SLIDE = REPO / "data" / "slides" / "CMU-1-Small-Region.svs"
TISSUE_TILES = ((1024, 512), (1024, 1024), (1024, 1536))  # (x, y) of 512 px tiles, ~80% tissue
VARIANTS = {  # name: (precision, channels_last)
    "fp32": ("fp32", False),
    "fp32 + channels-last": ("fp32", True),
    "bf16 + channels-last": ("bf16", True),
}
SETS = {
    "synthetic_held_out": "synthetic, held out",
    "nucls_train": "NuCLS, training tiles",
    "nucls_held_out": "NuCLS, held-out tiles",
}


def time_per_tile(
    predictor: Predictor, tiles: list[np.ndarray], stats: NormalisationStats, repeats: int
) -> float:
    predictor(tiles[0][None], stats)  # warm-up (allocations, oneDNN kernels)
    start = time.perf_counter()
    for _ in range(repeats):
        for tile in tiles:
            predictor(tile[None], stats)
    return (time.perf_counter() - start) / (repeats * len(tiles))


def cmu1_tiles() -> tuple[list[np.ndarray], NormalisationStats]:
    """Three tissue tiles of the demo slide and the slide's statistics (as the tiler computes)."""
    from tessera.slides.formats import open_slide
    from tessera.slides.reader import read_region

    with open_slide(SLIDE) as slide:
        region = read_region(slide, 0, (0, 0), slide.dimensions)
    tiles = [region[y : y + 512, x : x + 512] for x, y in TISSUE_TILES]
    return tiles, normalisation_stats(region[::4, ::4])


def quality(model: Any, precision: str, synthetic: list, train: list, held_out: list) -> dict:
    predictor = Predictor(model.module, "cpu", precision)  # type: ignore[arg-type]
    return {
        "synthetic_held_out": score_synthetic(predictor, synthetic).as_dict(),
        "nucls_train": score_nucls(predictor, train, model.pixel_size).as_dict(),
        "nucls_held_out": score_nucls(predictor, held_out, model.pixel_size).as_dict(),
    }


def pooled_f1(scores: dict[str, dict]) -> float:
    total = EMPTY
    for s in scores.values():
        total = total + MatchCounts(s["tp"], s["fp"], s["fn"], s["mean_matched_iou"] * s["tp"])
    return round(total.f1, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bundled")
    parser.add_argument("--synthetic", type=int, default=32, help="held-out synthetic tiles")
    parser.add_argument("--timing-tiles", type=int, default=3, help="CMU-1 tiles to time (1-3)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-bf16-quality", action="store_true", help="bf16 F1 is slow here")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("TESSERA_MODEL_OFFLINE", "1")

    model = resolve_model(args.model)
    metadata = read_metadata(model.path)
    train_tiles, held_out = split_tiles(load_tiles())
    synthetic = held_out_tiles(args.synthetic, 256)
    report: dict[str, Any] = {
        **model.summary(),
        "size_mb": round(model.path.stat().st_size / 1e6, 2),
        "parameters": metadata.get("training", {}).get("parameters"),
        "cpu": platform.processor() or platform.machine(),
        "threads": args.threads,
        "native_bf16": cpu_has_native_bf16(),
        "quality": {},
        "pooled_f1": {},
        "seconds_per_512_tile": {},
    }
    for precision in ["fp32"] if args.skip_bf16_quality else ["fp32", "bf16"]:
        scores = quality(model, precision, synthetic, train_tiles, held_out)
        report["quality"][precision] = scores
        report["pooled_f1"][precision] = pooled_f1(scores)
    if "bf16" in report["quality"]:
        fp32, bf16 = report["quality"]["fp32"], report["quality"]["bf16"]
        report["bf16_minus_fp32_f1"] = {k: round(bf16[k]["f1"] - fp32[k]["f1"], 4) for k in fp32}
        report["bf16_minus_fp32_f1"]["pooled"] = round(
            report["pooled_f1"]["bf16"] - report["pooled_f1"]["fp32"], 4
        )

    tissue, stats = cmu1_tiles()
    timing = report["seconds_per_512_tile"]
    for name, (precision, channels_last) in VARIANTS.items():
        predictor = Predictor(model.module, "cpu", precision, channels_last)  # type: ignore[arg-type]
        seconds = time_per_tile(predictor, tissue[: args.timing_tiles], stats, args.repeats)
        timing[f"CMU-1 tissue, {name}"] = round(seconds, 3)
    dense = generate_tile(np.random.default_rng(np.random.SeedSequence(4242)), 512, "dense")
    seconds = time_per_tile(Predictor(model.module, "cpu", "fp32"), [dense.image], dense.stats, 1)
    timing["synthetic dense (worst case), fp32"] = round(seconds, 3)
    difference = report.get("bf16_minus_fp32_f1", {}).get("pooled")
    report["bf16_by_default_here"] = bool(
        timing["CMU-1 tissue, bf16 + channels-last"] < timing["CMU-1 tissue, fp32 + channels-last"]
        and difference is not None
        and abs(difference) <= 0.01
    )

    print_markdown(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def print_markdown(report: dict[str, Any]) -> None:
    print(f"model {report['model']} ({report['model_source']}), sha256 {report['model_sha256']}")
    print(f"{report['size_mb']} MB, {report['parameters']} parameters, "
          f"{report['model_pixel_size']} um/px")  # fmt: skip
    print()
    print("| data | tiles | precision | F1 @ IoU 0.5 | precision | recall | mean matched IoU |")
    print("|---|---|---|---|---|---|---|")
    for precision, scores in report["quality"].items():
        for key, s in scores.items():
            print(
                f"| {SETS[key]} | {s['tiles']} | {precision} | {s['f1']:.3f} | "
                f"{s['precision']:.3f} | {s['recall']:.3f} | {s['mean_matched_iou']:.3f} |"
            )
    print()
    print(f"CPU: {report['cpu']}, {report['threads']} thread(s), native bf16: "
          f"{report['native_bf16']}")  # fmt: skip
    print()
    print("| 512 x 512 tile | seconds |")
    print("|---|---|")
    for name, seconds in report["seconds_per_512_tile"].items():
        print(f"| {name} | {seconds:.3f} |")
    print()
    if "bf16_minus_fp32_f1" in report:
        print(f"F1 difference bf16 - fp32: {report['bf16_minus_fp32_f1']}")
    print(f"bf16 by default on this CPU: {report['bf16_by_default_here']}")


if __name__ == "__main__":
    main()
