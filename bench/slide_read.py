"""Reading speed of each slide backend on the same synthetic slide: megapixels per second, one
thread.

    .venv/bin/python bench/slide_read.py                     # 4096², 40 regions of 512² a case
    .venv/bin/python bench/slide_read.py --size 8192 --regions 100

Writes a synthetic Aperio SVS, then the same pixels as a generic tiled TIFF, an OME-TIFF
pyramid (deflate) and a DICOM WSI series (JPEG, wsidicomizer), and reads the same random
regions from each with every backend that opens it, the way the data plane does
(`tessera.slides.reader.read_region`: RGB on white). A first pass over the regions warms the
page cache and is not timed; each timed pass opens the slide afresh (opening not timed), so no
backend serves a region from tiles it decoded in an earlier pass. The figure is the best of
`--repeats` passes.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from tessera.slides.convert import write_dicom, write_tiff
from tessera.slides.formats import Backend, open_slide
from tessera.slides.reader import read_region
from tessera.slides.synth import write_synthetic_slide

CASES: list[tuple[str, str, Backend]] = [
    ("aperio svs", "slide.svs", "openslide"),
    ("aperio svs", "slide.svs", "tiffslide"),
    ("generic tiff", "slide.tif", "openslide"),
    ("generic tiff", "slide.tif", "tiffslide"),
    ("ome-tiff", "slide.ome.tiff", "tiffslide"),
    ("dicom", "slide-dicom", "openslide"),
    ("dicom", "slide-dicom", "wsidicom"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=4096, help="level-0 side in pixels")
    parser.add_argument("--regions", type=int, default=40, help="regions read per case")
    parser.add_argument("--region", type=int, default=512, help="region side in pixels")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per case")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tessera-slide-read-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        svs = write_synthetic_slide(root / "slide.svs", args.size, args.size, seed=1).path
        write_tiff(svs, root / "slide.tif", ome=False)
        write_tiff(svs, root / "slide.ome.tiff", ome=True)
        write_dicom(svs, root / "slide-dicom")
        print(f"slides written in {time.perf_counter() - started:.1f} s", flush=True)
        rng = random.Random(0)
        side = args.region
        origins = [
            (rng.randrange(args.size - side), rng.randrange(args.size - side))
            for _ in range(args.regions)
        ]
        megapixels = args.regions * side * side / 1e6
        for label, name, backend in CASES:
            best = float("inf")
            for timed in [False] + [True] * args.repeats:  # the first warms the page cache
                with open_slide(root / name, name, backend=backend) as slide:
                    t0 = time.perf_counter()
                    for origin in origins:
                        read_region(slide, 0, origin, (side, side))
                    if timed:
                        best = min(best, time.perf_counter() - t0)
            print(
                json.dumps(
                    {
                        "format": label,
                        "backend": backend,
                        "regions": args.regions,
                        "region_px": side,
                        "seconds": round(best, 3),
                        "mp_per_s": round(megapixels / best, 1),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
