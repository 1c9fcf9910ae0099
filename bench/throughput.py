"""Cell-segmentation throughput: InstanSeg's own tiling vs Tessera through the bus vs the ceiling.

On synthetic slides with ground truth (written with `tessera.slides.synth`: one with about half
background, one all tissue), with the same model and the same torch thread count, one run
measures:

  (a) InstanSeg's own path: `InstanSeg(model).eval_medium_image` on the region read into memory
      (512 px tiles, its fixed 200 px overlap, batch 1); the read is timed apart, not included;
  (b) Tessera end to end through the bus: tiler, inference (one replica unless --replicas) and
      merger as separate processes, as deployed (`tessera serve <name>`; embedded nats-server
      unless NATS_URL is set), from JobStarted to JobSucceeded, outputs written. The services
      are long-lived, so they are warmed by one small job first, as (a) and (c) are warmed;
  (c) the ceiling: the bare batched forward (`Predictor`, as the inference service runs it) over
      exactly the tiles Tessera processes, pixels already in memory.

  (d) the CPU cost outside the forward: CPU seconds per model megapixel of each stage (read,
      fragment clean-up, ownership, cell rows, encoding, merging) over the same tiles and
      labels, this code against the revision `--cpu-baseline` names (`bench/cpu_cost.py`);
  (e) `--concurrent N` jobs of N tenants on the slide at once through the same services: each
      job's tiles/s and the share of the wall time the inference worker's model was busy.

MP/s count the slide region at the model's pixel size (the same megapixels for every path), so
(b)/(a) is the speed-up over InstanSeg and (b)/(c) the share of the bare forward that the whole
pipeline keeps. Cell F1 at IoU 0.5 of (a) and (b) is against ground truth rendered at the
model's pixel size. Figures are printed, not asserted.

    .venv/bin/python bench/throughput.py                        # 8192² at 0.25 µm/px (~20 min)
    .venv/bin/python bench/throughput.py --size 4096 --threads 4
    .venv/bin/python bench/throughput.py --device cuda --workdir /keep   # slides kept, reused
    .venv/bin/python bench/throughput.py --model /abs/folder    # any model setting
    .venv/bin/python bench/throughput.py --rss 10000,20000      # peak RSS per service process
    .venv/bin/python bench/throughput.py --variants half --skip-instanseg --cpu-baseline 3a447b6

`--rss` runs the three services the same way on slides of the given sides and prints each
one's peak RSS (VmHWM), to check that memory stays flat as slides grow. Slides already in
`--workdir` (with their ground truth) are reused, not rewritten.
Without the bundled model (models/tessera_he_nuclei) an untrained tiny InstanSeg is exported and
used: speed figures stay meaningful, F1 does not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cpu_cost
import numpy as np
import torch
import zarr

from tessera.bus import JetStreamBus
from tessera.embedded import nats_from_env_or_embedded
from tessera.events import JobStarted, WorkflowSubmitted
from tessera.inference.domain import forward_batch_size
from tessera.segmentation.jit import torchscript_deprecation_silenced
from tessera.segmentation.metrics import match_instances
from tessera.segmentation.normalisation import NormalisationStats
from tessera.segmentation.predict import Predictor
from tessera.segmentation.registry import LoadedModel, resolve_model
from tessera.slides.access import open_slide
from tessera.slides.reader import read_box, read_region
from tessera.slides.synth import (
    SyntheticSlide,
    default_ground_truth_path,
    load_ground_truth,
    load_scene,
    write_synthetic_slide,
)
from tessera.telemetry import configure_logging
from tessera.tiler.adapters.models import ModelInfo
from tessera.tiler.adapters.planning import Target, plan_job
from tessera.tiling.grid import TileGrid
from tessera.tiling.work import CellWork, JobRef
from tessera.workflows import JobSpec, WorkflowSpec

TILE, HALO = 512, 64
WARM_UP_CALLS = 10  # measured here: a scripted InstanSeg runs slower for its first few calls
WARM_UP_SIDE = 1024


@dataclass
class Figures:
    seconds: float
    megapixels: float
    f1: float | None = None
    extra: str = ""

    @property
    def mp_s(self) -> float:
        return self.megapixels / self.seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192, help="slide side, level-0 px")
    parser.add_argument("--mpp", type=float, default=0.25)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads, every path (on 2 shared cores, 2 OpenMP threads spin against "
        "the other load and InstanSeg's many small post-processing ops get ~2x slower)",
    )
    parser.add_argument("--model", default="bundled", help="model setting (default: bundled)")
    parser.add_argument("--variants", default="half,all", help="half and/or all tissue")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--replicas", type=int, default=1, help="inference processes in (b)")
    parser.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="Tessera's precision in (b) and (c) ((a) runs as InstanSeg ships: fp32 on a CPU)",
    )
    parser.add_argument(
        "--fragments",
        default="auto",
        choices=["auto", "model", "labels"],
        help="where InstanSeg's fragment clean-up runs, in (b) and (c) alike",
    )
    parser.add_argument(
        "--decode-scaled",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the workers decode JPEG tiles scaled towards the model's size (the default)",
    )
    parser.add_argument(
        "--cpu-baseline",
        default=None,
        metavar="REF",
        help="git revision whose CPU stages (d) are measured beside this code's",
    )
    parser.add_argument("--cpu-repeat", type=int, default=3, help="passes of (d) per code")
    parser.add_argument(
        "--concurrent", type=int, default=3, help="jobs of as many tenants at once (e); 0: skip"
    )
    parser.add_argument("--skip-instanseg", action="store_true", help="leave out (a)")
    parser.add_argument("--rss", default="", help="comma-separated slide sides: RSS mode")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("TESSERA_MODEL_OFFLINE", "1")
    configure_logging("WARNING", json=False, service="bench")
    warnings.filterwarnings("ignore", ".*CUDA is not available.*")  # instanseg's autocast
    warnings.filterwarnings("ignore", ".*[Ss]parse.*", UserWarning)  # its post-processing
    with _workdir(args.workdir) as work:
        setting = _model_setting(args.model, work)
        args.model_setting = setting
        if args.rss:
            return rss_mode(args, work, setting, [int(s) for s in args.rss.split(",")])
        model = resolve_model(setting)
        print(
            f"model {model.name} (sha256 {model.sha256[:12]}, {model.pixel_size} µm/px), "
            f"{args.threads} torch threads, device {args.device}, torch {torch.__version__}"
        )
        slides = work / "slides"
        variants = {v: _variant_slide(slides, v, args) for v in args.variants.split(",")}
        warm_up = synthetic_slide(slides / "warm-up.svs", WARM_UP_SIDE, args.mpp, 1.0, seed=1)
        with services(slides, args) as stack:
            # long-lived services: the first job pays for imports, model load and TorchScript's
            # first calls; (a) and (c) are warmed up likewise
            stack.run(warm_up.path.name, {"model": setting, "tile_size": TILE, "halo": HALO})
            for variant, slide in variants.items():
                run_variant(args, stack, model, setting, variant, slide, work)
    return 0


def _variant_slide(slides: Path, variant: str, args: argparse.Namespace) -> SyntheticSlide:
    fraction = {"half": 0.5, "all": 1.0}[variant]
    return synthetic_slide(slides / f"{variant}.svs", args.size, args.mpp, fraction, seed=3)


def run_variant(
    args: argparse.Namespace,
    stack: Services,
    model: LoadedModel,
    setting: str,
    variant: str,
    slide: SyntheticSlide,
    work: Path,
) -> None:
    slides = slide.path.parent
    print(f"\n== {variant} tissue: {args.size}² at {args.mpp} µm/px ({slide.nuclei} nuclei)")
    plan = plan_job(
        Target(JobRef(tenant_id=uuid.uuid4(), workflow_id=uuid.uuid4(), job_id="x", attempt=1),
               "unused", 8),
        JobSpec(id="x", type="cell_segmentation", slide=slide.path.name,
                params={"model": setting, "tile_size": TILE, "halo": HALO}),
        slides,
        ModelInfo(setting, model.name, model.sha256, model.pixel_size, model.source),
    )  # fmt: skip
    grid = plan.details.grid
    assert grid is not None
    mp = grid.width * grid.height / 1e6
    truth = load_scene(slide.ground_truth).render_labels(
        0, 0, grid.width, grid.height, grid.level0_per_px
    )
    print(
        f"grid {grid.width}x{grid.height} at {grid.mpp} µm/px = {mp:.1f} MP; Tessera keeps "
        f"{plan.tiles_total}/{grid.n_tiles} tiles (tissue {plan.tissue_fraction:.2f})"
    )
    rows: dict[str, Figures] = {}
    if not args.skip_instanseg:
        rows["(a) InstanSeg eval_medium_image"] = instanseg_path(slide.path, args, model, truth, mp)
    rows["(b) Tessera through the bus"] = tessera_path(stack, slide.path.name, setting, truth, mp)
    tiles = [t for b in plan.batches for t in b.tiles]
    work0 = plan.batches[0].work if plan.batches else None
    assert isinstance(work0, CellWork)
    rows["(c) bare batched forward"], labels = forward_path(
        slide.path, grid, tiles, work0, model, args, mp
    )
    for name, f in rows.items():
        f1 = f"F1 {f.f1:.3f}" if f.f1 is not None else ""
        print(f"{name:34s} {f.seconds:7.1f} s  {f.mp_s:6.3f} MP/s  {f1:9s} {f.extra}")
    b = rows["(b) Tessera through the bus"].mp_s
    a = rows.get("(a) InstanSeg eval_medium_image")
    c = rows["(c) bare batched forward"].mp_s
    if a is not None:
        print(f"(b)/(a) = {b / a.mp_s:.2f}x   ", end="")
    print(f"(b)/(c) = {b / c:.2f}")
    np.save(work / f"{variant}-labels.npy", labels)
    spec = {
        "slide": str(slide.path),
        "grid": grid.model_dump(),
        "tiles": tiles,
        "labels": str(work / f"{variant}-labels.npy"),
        "decode_scaled": args.decode_scaled,
    }
    medians = cpu_cost.compare(spec, args.cpu_baseline, args.cpu_repeat, work)
    print(
        f"(d) CPU seconds per model MP outside the forward ({len(tiles)} tiles, {mp:.1f} MP, "
        f"one thread, median of {args.cpu_repeat}):"
    )
    print(cpu_cost.report(medians, mp, args.cpu_baseline))
    if args.concurrent > 0:
        concurrent_jobs(stack, slide.path.name, setting, args.concurrent)


def concurrent_jobs(stack: Services, slide: str, setting: str, jobs: int) -> None:
    """(e): `jobs` tenants' jobs on one slide at once; the workers take their batches from
    one queue, so the model serves them all."""
    params = {"model": setting, "tile_size": TILE, "halo": HALO}
    done, wall = stack.run_many([(slide, params)] * jobs)
    print(f"(e) {jobs} jobs of {jobs} tenants at once: {wall:.1f} s wall")
    forward = 0.0
    for k, (summary, seconds) in enumerate(done, start=1):
        tiles = summary["tiles_total"]
        forward += summary["timings"].get("forward_s", 0.0)
        print(f"    job {k}: {tiles} tiles in {seconds:.1f} s = {tiles / seconds:.2f} tiles/s")
    total = sum(s["tiles_total"] for s, _ in done)
    print(
        f"    together {total / wall:.2f} tiles/s; the model busy {forward / wall:.0%} of the "
        f"wall time ({forward:.1f} s of forward over {stack.replicas} worker(s))"
    )


def instanseg_path(
    path: Path, args: argparse.Namespace, model: LoadedModel, truth: np.ndarray, mp: float
) -> Figures:
    with torchscript_deprecation_silenced():
        from instanseg import InstanSeg

        fresh = resolve_model(str(model.path))
        runner = InstanSeg(fresh.module, device=args.device, verbosity=0)
    handle = open_slide(path)
    t0 = time.perf_counter()
    image = read_region(handle, 0, (0, 0), handle.dimensions)
    read_s = time.perf_counter() - t0
    handle.close()

    def run(pixels: np.ndarray) -> Any:
        with torchscript_deprecation_silenced():
            return runner.eval_medium_image(
                pixels,
                pixel_size=args.mpp,
                tile_size=TILE,
                batch_size=1,
                return_image_tensor=False,
                rescale_output=False,  # labels at the model's pixel size, like the ground truth
            )

    run(image[: WARM_UP_SIDE * 2, : WARM_UP_SIDE * 2])  # ~10 tiles, untimed, like (b) and (c)
    t0 = time.perf_counter()
    labels = run(image)
    seconds = time.perf_counter() - t0
    predicted = np.asarray(labels.squeeze().cpu().numpy(), np.int64)
    f1 = _f1(truth, predicted)
    return Figures(seconds, mp, f1, f"(read into memory apart: {read_s:.1f} s)")


def tessera_path(
    stack: Services, slide: str, setting: str, truth: np.ndarray, mp: float
) -> Figures:
    summary, seconds = stack.run(slide, {"model": setting, "tile_size": TILE, "halo": HALO})
    labels = zarr.open_group(str(stack.results / summary["results"] / "labels.zarr"), mode="r")
    predicted = np.asarray(labels["0"][:], np.int64)
    timings = summary["timings"]
    stages = ", ".join(
        f"{k.removesuffix('_s')} {timings[k]:.1f}"
        for k in ("plan_s", "read_s", "forward_s", "post_s", "merge_s", "finalise_s")
        if k in timings
    )
    extra = f"({summary['cell_count']} cells; stage s: {stages})"
    return Figures(seconds, mp, _f1(truth, predicted), extra)


def forward_path(
    path: Path,
    grid: TileGrid,
    tiles: list[int],
    work: CellWork,
    model: LoadedModel,
    args: argparse.Namespace,
    mp: float,
) -> tuple[Figures, np.ndarray]:
    handle = open_slide(path)
    pixels = np.stack(
        [read_box(handle, grid, grid.tile(i).read, decode_scaled=args.decode_scaled) for i in tiles]
    )
    handle.close()
    module = resolve_model(str(model.path)).module
    predictor = Predictor(module, args.device, args.precision, fragments=args.fragments)
    stats = NormalisationStats(work.stats_low, work.stats_high)
    size = forward_batch_size(0, 0, predictor.device.type)
    predictor.warm_up(grid.tile_size, grid.tile_size, size, stats)  # as the service does
    for _ in range(WARM_UP_CALLS):  # TorchScript profiles its first calls: not timed
        predictor(pixels[:size], stats)
    labels = np.empty(pixels.shape[:3], np.int32)
    t0 = time.perf_counter()
    for start in range(0, len(tiles), size):
        # as the service: the labels' fragments are cleaned after the forward (the raw labels
        # are kept for (d), which times the clean-up as its own stage)
        labels[start : start + size] = predictor(pixels[start : start + size], stats, clean=False)
        for k in range(start, min(start + size, len(tiles))):
            predictor.clean(labels[k])
    seconds = time.perf_counter() - t0
    detail = f"batch {size}, {predictor.precision}, fragments cleaned in the {predictor.fragments}"
    return Figures(seconds, mp, None, f"({len(tiles)} tiles, {detail})"), labels


def _f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    h, w = min(truth.shape[0], predicted.shape[0]), min(truth.shape[1], predicted.shape[1])
    return match_instances(truth[:h, :w].astype(np.int64), predicted[:h, :w]).f1


# --- the services as processes ---------------------------------------------------------


@dataclass
class Services:
    """tiler, inference and merger running as `tessera serve` processes on one NATS."""

    url: str
    namespace: str
    results: Path
    procs: dict[str, subprocess.Popen[bytes]]

    @property
    def replicas(self) -> int:
        return sum(name.startswith("inference") for name in self.procs)

    def run(self, slide: str, params: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """Submit one cell_segmentation job; its summary and seconds from start to success."""
        return asyncio.run(self._run(slide, params))

    def run_many(
        self, jobs: list[tuple[str, dict[str, Any]]]
    ) -> tuple[list[tuple[dict[str, Any], float]], float]:
        """One job per tenant, all started at once; each one's summary and seconds from the
        start to its success, and the wall time until the last one succeeded."""

        async def together() -> tuple[list[tuple[dict[str, Any], float]], float]:
            t0 = time.perf_counter()
            done = await asyncio.gather(*(self._run(slide, p) for slide, p in jobs))
            return list(done), time.perf_counter() - t0

        return asyncio.run(together())

    def peaks_kb(self) -> dict[str, int]:
        return {name: _peak_rss_kb(p.pid) for name, p in self.procs.items()}

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"service {name} exited with {proc.returncode}")

    async def _run(self, slide: str, params: dict[str, Any]) -> tuple[dict[str, Any], float]:
        bus = await JetStreamBus.connect(self.url, self.namespace, name="bench")
        try:
            await bus.ensure_streams()
            tenant, workflow = uuid.uuid4(), uuid.uuid4()
            job = JobSpec(id="cells", type="cell_segmentation", slide=slide, params=params)
            spec = WorkflowSpec(name="bench", jobs=(job,))
            await bus.append(WorkflowSubmitted(tenant_id=tenant, workflow_id=workflow, spec=spec))
            async with bus.feed(subject=f"{bus.names.ns}.evt.{tenant}.{workflow}.>") as feed:
                t0 = time.perf_counter()
                await bus.append(JobStarted(tenant_id=tenant, workflow_id=workflow, job_id="cells"))
                while True:
                    env = await feed.get(timeout=5)
                    if env is None:
                        self._check_alive()
                    elif env.event.type == "JobSucceeded":
                        summary = dict(env.event.summary)
                        return summary, time.perf_counter() - t0
                    elif env.event.type == "JobAttemptFailed":
                        raise RuntimeError(env.event.reason)
        finally:
            await bus.close()


@contextlib.contextmanager
def services(root: Path, args: argparse.Namespace) -> Iterator[Services]:
    """The data-plane services as processes, reading slides under `root`, until the block ends."""
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(nats_from_env_or_embedded())
        results = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        namespace = f"bench{uuid.uuid4().hex[:8]}"
        env = {
            **os.environ,
            "NATS_URL": url,
            "TESSERA_NAMESPACE": namespace,
            "TESSERA_DATA_ROOT": str(root),
            "TESSERA_RESULTS_ROOT": str(results),
            "TESSERA_LOG_LEVEL": "WARNING",
            "TESSERA_INFERENCE_THREADS": str(args.threads),
            "TESSERA_INFERENCE_DEVICE": args.device,
            "TESSERA_INFERENCE_FRAGMENTS": args.fragments,
            "TESSERA_INFERENCE_PRECISION": args.precision,
            "TESSERA_INFERENCE_DECODE_SCALED": str(args.decode_scaled).lower(),
            # every replica compiles its batch shapes before taking work, not on a timed job
            "TESSERA_INFERENCE_PRELOAD": args.model_setting,
            "TESSERA_INFERENCE_PRELOAD_TILE_SIZE": str(TILE),
        }
        names = ["merger", "tiler"] + [f"inference-{i + 1}" for i in range(args.replicas)]
        procs = {
            name: subprocess.Popen(
                [sys.executable, "-m", "tessera.cli", "serve", name.split("-")[0]],
                env=env,
                stdout=subprocess.DEVNULL,
            )
            for name in names
        }
        try:
            yield Services(url, namespace, results, procs)
        finally:
            for p in procs.values():
                p.send_signal(signal.SIGTERM)
            for p in procs.values():
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
            if os.environ.get("NATS_URL"):
                asyncio.run(_delete_streams(url, namespace))


async def _delete_streams(url: str, namespace: str) -> None:
    bus = await JetStreamBus.connect(url, namespace, name="bench-cleanup")
    try:
        await bus.delete_streams()
    finally:
        await bus.close()


def rss_mode(args: argparse.Namespace, work: Path, setting: str, sizes: list[int]) -> int:
    print(f"peak RSS (VmHWM) per service process; model {setting}; tissue ~30%")
    print(f"{'slide side':>10s} {'tiles':>6s} {'seconds':>8s}  tiler    inference  merger")
    for size in sizes:
        slides = work / f"rss{size}"
        slide = synthetic_slide(slides / "s.svs", size, args.mpp, 0.3, seed=5)
        with services(slides, args) as stack:
            summary, seconds = stack.run(slide.path.name, {"model": setting})
            peaks = stack.peaks_kb()
        print(
            f"{size:>10d} {summary['tiles_total']:>6d} {seconds:>8.0f}  "
            + "  ".join(f"{peaks[s] / 1024:6.0f} MB" for s in ("tiler", "inference-1", "merger"))
        )
    return 0


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


# --- helpers ------------------------------------------------------------------------------


@contextlib.contextmanager
def _workdir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="tessera-throughput-") as tmp:
        yield Path(tmp)


def synthetic_slide(
    path: Path, side: int, mpp: float, fraction: float, seed: int
) -> SyntheticSlide:
    """The synthetic slide at `path`, written unless the same one (by its ground truth) is there."""
    gt = default_ground_truth_path(path)
    if path.is_file() and gt.is_file():
        spec, nuclei = load_ground_truth(gt)
        if (spec.width, spec.height, spec.mpp, spec.seed, spec.tissue_fraction) == (
            side, side, mpp, seed, fraction
        ):  # fmt: skip
            handle = open_slide(path)
            dims = tuple(tuple(d) for d in handle.level_dimensions)
            handle.close()
            return SyntheticSlide(path, gt, side, side, mpp, dims, len(nuclei), 0.0)  # type: ignore[arg-type]
    return write_synthetic_slide(path, side, side, mpp=mpp, seed=seed, tissue_fraction=fraction)


def _model_setting(setting: str, work: Path) -> str:
    """`setting`, or a freshly exported tiny untrained InstanSeg when it cannot be loaded."""
    try:
        resolve_model(setting)
        return setting
    except Exception as error:
        from tessera.segmentation.export import export_model
        from tessera.segmentation.network import Architecture, build_loss, build_network

        print(f"model {setting!r} unavailable ({error}); using an untrained tiny InstanSeg")
        arch = Architecture(layers=(8, 16))
        folder = work / "tiny_instanseg"
        export_model(build_network(arch, build_loss(arch, "cpu"), seed=0), arch, folder)
        return str(folder)


if __name__ == "__main__":
    sys.exit(main())
