"""CPU seconds per model megapixel outside the forward pass, per stage, this code against another.

What a worker and the merger spend on the CPU for each tile besides the model: reading and
decoding the tile (`read`), InstanSeg's fragment clean-up on the labels (`clean`, a CPU's
default), ownership (`own`), cell rows with contours (`cells`), the result's encoding
(`encode`), and the merger's decoding, label image, cell table and final outputs (`merge`).
Each stage runs on one thread over the same tiles and the same model labels, timed with
`time.process_time` (the process's CPU, whatever threads a library starts), in a process of
its own per pass; passes of the two codes alternate, and the medians are printed.

The other code is a git revision (`--cpu-baseline REF` of `bench/throughput.py`): its `libs/`
and `services/` are unpacked into a temporary folder and put first on the passes' PYTHONPATH,
so the same stages run on its functions (their signatures have not changed; its reader has no
`decode_scaled`, so it reads as it always did).

    .venv/bin/python bench/throughput.py --variants half --skip-instanseg --cpu-baseline 3a447b6

(d) alone again, on the slide and labels a run of `bench/throughput.py` left in its workdir:

    .venv/bin/python bench/cpu_cost.py --spec .state/bench/cpu-cost-spec.json --baseline 3a447b6
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

STAGES = ("read", "clean", "own", "cells", "encode", "merge")
ROOT = Path(__file__).resolve().parents[1]
FLUSH_EVERY = 16  # tiles per merger flush, as a busy merger's fetch groups them


def measure(spec: dict[str, Any]) -> dict[str, float]:
    """CPU seconds of each stage over the spec's tiles (run in the pass's own process)."""
    from tessera.segmentation.fragments import remove_fragments
    from tessera.slides.access import open_slide
    from tessera.slides.reader import read_box
    from tessera.stitching.cells import cell_table
    from tessera.stitching.encoding import encode_instances
    from tessera.stitching.outputs import CellJobOutputs
    from tessera.stitching.ownership import IdPacking, owned_instances
    from tessera.tiling.grid import TileGrid

    grid = TileGrid(**spec["grid"])
    tiles: list[int] = spec["tiles"]
    labels = np.load(spec["labels"])
    cpu = dict.fromkeys(STAGES, 0.0)
    read_options = {}
    if "decode_scaled" in inspect.signature(read_box).parameters:
        read_options["decode_scaled"] = spec["decode_scaled"]
    handle = open_slide(spec["slide"])
    with _cpu(cpu, "read"):
        for index in tiles:
            read_box(handle, grid, grid.tile(index).read, **read_options)
    handle.close()
    packing = IdPacking.for_tiles(grid.n_tiles)
    payloads = []
    for k, index in enumerate(tiles):
        tile = grid.tile(index)
        with _cpu(cpu, "clean"):
            cleaned = remove_fragments(labels[k])
        with _cpu(cpu, "own"):
            instances = owned_instances(cleaned, tile, packing)
        with _cpu(cpu, "cells"):
            cells = cell_table(instances, grid, index)
        with _cpu(cpu, "encode"):
            origin = (tile.read.x, tile.read.y)
            payloads.append(encode_instances(index, origin, instances, cells=cells))
    with tempfile.TemporaryDirectory() as folder, _cpu(cpu, "merge"):
        outputs = CellJobOutputs.create(folder, grid)
        for k, payload in enumerate(payloads, start=1):
            outputs.apply(payload)
            if k % FLUSH_EVERY == 0:
                outputs.flush()
        outputs.finalise()
    return cpu


@contextlib.contextmanager
def _cpu(totals: dict[str, float], stage: str) -> Iterator[None]:
    t0 = time.process_time()
    try:
        yield
    finally:
        totals[stage] += time.process_time() - t0


@contextlib.contextmanager
def baseline_tree(ref: str) -> Iterator[Path]:
    """The package `tessera` as revision `ref` has it, laid out for PYTHONPATH."""
    with tempfile.TemporaryDirectory(prefix="tessera-baseline-") as tmp:
        source, tree = Path(tmp) / "src", Path(tmp) / "tree"
        source.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", ref, "libs", "services", "scripts"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
        subprocess.run(
            [sys.executable, str(source / "scripts" / "mypy_tree.py"), str(tree)],
            check=True,
            capture_output=True,
        )
        yield tree


def compare(
    spec: dict[str, Any], baseline: str | None, repeat: int, workdir: Path
) -> dict[str, dict[str, float]]:
    """Median CPU seconds per stage of this code (and of `baseline`), passes alternating."""
    spec_path = workdir / "cpu-cost-spec.json"
    spec_path.write_text(json.dumps(spec))
    with contextlib.ExitStack() as stack:
        codes: dict[str, dict[str, str]] = {}
        if baseline is not None:
            tree = stack.enter_context(baseline_tree(baseline))
            old_path = os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")])
            codes["old"] = {**os.environ, "PYTHONPATH": old_path}
        codes["new"] = dict(os.environ)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in codes}
        for _ in range(repeat):
            for name, env in codes.items():
                runs[name].append(_pass(spec_path, env))
    return {
        name: {stage: statistics.median(r[stage] for r in results) for stage in STAGES}
        for name, results in runs.items()
    }


def _pass(spec_path: Path, env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, str(spec_path)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def report(medians: dict[str, dict[str, float]], megapixels: float, baseline: str | None) -> str:
    """The comparison as a table of CPU seconds per model MP."""
    names = list(medians)
    header = f"{'stage':8s}" + "".join(
        f"{(f'old ({baseline})' if n == 'old' else 'new'):>16s}" for n in names
    )
    if "old" in medians:
        header += f"{'old/new':>9s}"
    lines = [header]
    for stage in (*STAGES, "total", "no clean"):
        values = {n: _figure(medians[n], stage) / megapixels for n in names}
        line = f"{stage:8s}" + "".join(f"{values[n]:16.4f}" for n in names)
        if "old" in values:
            line += f"{values['old'] / max(values['new'], 1e-9):8.1f}x"
        lines.append(line)
    lines.append("(no clean: the total less the fragment clean-up, in the model on CUDA)")
    return "\n".join(lines)


def _figure(seconds: dict[str, float], stage: str) -> float:
    if stage == "total":
        return sum(seconds.values())
    if stage == "no clean":
        return sum(seconds.values()) - seconds["clean"]
    return seconds[stage]


def main(argv: list[str]) -> None:
    """One pass (`SPEC`, as `compare` runs it), or the comparison (`--spec SPEC`)."""
    if len(argv) == 1:
        print(json.dumps(measure(json.loads(Path(argv[0]).read_text()))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, required=True, help="cpu-cost-spec.json of a run")
    parser.add_argument("--baseline", default=None, metavar="REF")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    spec = json.loads(args.spec.read_text())
    megapixels = spec["grid"]["width"] * spec["grid"]["height"] / 1e6
    with tempfile.TemporaryDirectory() as work:
        medians = compare(spec, args.baseline, args.repeat, Path(work))
    print(f"({len(spec['tiles'])} tiles, {megapixels:.1f} MP, median of {args.repeat})")
    print(report(medians, megapixels, args.baseline))


if __name__ == "__main__":
    main(sys.argv[1:])
