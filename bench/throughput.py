"""Cell-segmentation throughput: InstanSeg's own tiling vs Tessera through the bus vs the ceiling.

On synthetic slides with ground truth (written with `tessera.slides.synth`: one with about half
background, one all tissue), with the same model and the same torch thread count, one run
measures:

  (a) InstanSeg's own path: `InstanSeg(model).eval_medium_image` on the region read into memory
      (512 px tiles, its fixed 200 px overlap, batch 1); the read is timed apart, not included;
  (b) Tessera end to end through the bus: tiler, one inference replica and the merger in this
      process on their own NATS connections (embedded nats-server unless NATS_URL is set), from
      JobStarted to JobSucceeded, outputs written;
  (c) the ceiling: the bare batched forward (`Predictor`, as the inference service runs it) over
      exactly the tiles Tessera processes, pixels already in memory.

MP/s count the slide region at the model's pixel size (the same megapixels for every path), so
(b)/(a) is the speed-up over InstanSeg and (b)/(c) the share of the bare forward that the whole
pipeline keeps. Cell F1 at IoU 0.5 of (a) and (b) is against ground truth rendered at the
model's pixel size. Figures are printed, not asserted.

    .venv/bin/python bench/throughput.py                        # 4096² at 0.25 µm/px (~5 min)
    .venv/bin/python bench/throughput.py --size 8192 --threads 4
    .venv/bin/python bench/throughput.py --model /abs/folder    # any model setting
    .venv/bin/python bench/throughput.py --rss 10000,20000      # peak RSS per service process

`--rss` runs the three services as processes (`tessera serve ...`) on slides of the given sides
and prints each one's peak RSS (VmHWM), to check that memory stays flat as slides grow.
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

import numpy as np
import torch
import zarr

from tessera.bus import Bus
from tessera.embedded import nats_server
from tessera.events import JobStarted, WorkflowSubmitted
from tessera.inference.domain import forward_batch_size
from tessera.inference.main import serve as serve_inference
from tessera.inference.settings import InferenceSettings
from tessera.merger.main import serve as serve_merger
from tessera.merger.settings import MergerSettings
from tessera.segmentation.jit import torchscript_deprecation_silenced
from tessera.segmentation.metrics import match_instances
from tessera.segmentation.normalisation import NormalisationStats
from tessera.segmentation.predict import Predictor
from tessera.segmentation.registry import LoadedModel, resolve_model
from tessera.service import Runtime
from tessera.slides.access import open_slide
from tessera.slides.reader import read_box, read_region
from tessera.slides.synth import load_scene, write_synthetic_slide
from tessera.telemetry import configure_logging
from tessera.tiler.adapters.models import ModelInfo
from tessera.tiler.adapters.planning import Target, plan_job
from tessera.tiler.main import serve as serve_tiler
from tessera.tiler.settings import TilerSettings
from tessera.tiling.grid import TileGrid
from tessera.tiling.work import CellWork, JobRef
from tessera.workflows import JobSpec, WorkflowSpec

TILE, HALO = 512, 64
WARM_UP_CALLS = 10  # measured here: a scripted InstanSeg runs ~4x slower for its first ~8 calls


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
    parser.add_argument("--size", type=int, default=4096, help="slide side, level-0 px")
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
        if args.rss:
            return rss_mode(args, work, setting, [int(s) for s in args.rss.split(",")])
        model = resolve_model(setting)
        print(
            f"model {model.name} (sha256 {model.sha256[:12]}, {model.pixel_size} µm/px), "
            f"{args.threads} torch threads, device {args.device}, torch {torch.__version__}"
        )
        for variant in args.variants.split(","):
            run_variant(args, work, model, setting, variant)
    return 0


def run_variant(
    args: argparse.Namespace, work: Path, model: LoadedModel, setting: str, variant: str
) -> None:
    fraction = {"half": 0.5, "all": 1.0}[variant]
    slides = work / "slides"
    t0 = time.perf_counter()
    slide = write_synthetic_slide(
        slides / f"{variant}.svs", args.size, args.size, mpp=args.mpp, seed=3,
        tissue_fraction=fraction,
    )  # fmt: skip
    print(
        f"\n== {variant} tissue: {args.size}² at {args.mpp} µm/px "
        f"({slide.nuclei} nuclei, written in {time.perf_counter() - t0:.0f} s)"
    )
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
    rows["(b) Tessera through the bus"] = tessera_path(
        slides, slide.path.name, setting, args, truth, mp
    )
    tiles = [t for b in plan.batches for t in b.tiles]
    work0 = plan.batches[0].work if plan.batches else None
    assert isinstance(work0, CellWork)
    rows["(c) bare batched forward"] = forward_path(slide.path, grid, tiles, work0, model, args, mp)
    for name, f in rows.items():
        f1 = f"F1 {f.f1:.3f}" if f.f1 is not None else ""
        print(f"{name:34s} {f.seconds:7.1f} s  {f.mp_s:6.3f} MP/s  {f1:9s} {f.extra}")
    b = rows["(b) Tessera through the bus"].mp_s
    a = rows.get("(a) InstanSeg eval_medium_image")
    c = rows["(c) bare batched forward"].mp_s
    if a is not None:
        print(f"(b)/(a) = {b / a.mp_s:.2f}x   ", end="")
    print(f"(b)/(c) = {b / c:.2f}")


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
    t0 = time.perf_counter()
    with torchscript_deprecation_silenced():
        labels = runner.eval_medium_image(
            image,
            pixel_size=args.mpp,
            tile_size=TILE,
            batch_size=1,
            return_image_tensor=False,
            rescale_output=False,  # labels at the model's pixel size, like the ground truth
        )
    seconds = time.perf_counter() - t0
    predicted = np.asarray(labels.squeeze().cpu().numpy(), np.int64)
    f1 = _f1(truth, predicted)
    return Figures(seconds, mp, f1, f"(read into memory apart: {read_s:.1f} s)")


def tessera_path(
    root: Path, slide: str, setting: str, args: argparse.Namespace, truth: np.ndarray, mp: float
) -> Figures:
    return asyncio.run(_tessera(root, slide, setting, args, truth, mp))


async def _tessera(
    root: Path, slide: str, setting: str, args: argparse.Namespace, truth: np.ndarray, mp: float
) -> Figures:
    with contextlib.ExitStack() as stack:
        url = os.environ.get("NATS_URL") or stack.enter_context(
            nats_server(Path(stack.enter_context(tempfile.TemporaryDirectory())))
        )
        results = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        base: dict[str, Any] = {
            "nats_url": url,
            "namespace": f"bench{uuid.uuid4().hex[:8]}",
            "data_root": root,
            "results_root": results,
            "log_level": "WARNING",
        }
        bus = await Bus.connect(url, base["namespace"], name="bench")
        await bus.ensure_streams()
        services = [
            await _start(serve_merger, MergerSettings(**base)),
            await _start(
                serve_inference,
                InferenceSettings(**base, device=args.device, threads=args.threads),
            ),
            await _start(serve_tiler, TilerSettings(**base)),
        ]
        try:
            tenant, workflow = uuid.uuid4(), uuid.uuid4()
            job = JobSpec(
                id="cells",
                type="cell_segmentation",
                slide=slide,
                params={"model": setting, "tile_size": TILE, "halo": HALO},
            )
            spec = WorkflowSpec(name="bench", jobs=(job,))
            await bus.append(WorkflowSubmitted(tenant_id=tenant, workflow_id=workflow, spec=spec))
            t0 = time.perf_counter()
            await bus.append(JobStarted(tenant_id=tenant, workflow_id=workflow, job_id="cells"))
            summary = await _wait_success(bus, tenant, workflow)
            seconds = time.perf_counter() - t0
        finally:
            for rt, task in reversed(services):
                rt.stop.set()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 20)
                await rt.bus.close()
            await bus.delete_streams()
            await bus.close()
        labels = zarr.open_group(str(results / summary["results"] / "labels.zarr"), mode="r")
        predicted = np.asarray(labels["0"][:], np.int64)
        timings = summary["timings"]
        stages = ", ".join(
            f"{k.removesuffix('_s')} {timings[k]:.1f}"
            for k in ("plan_s", "read_s", "forward_s", "post_s", "merge_s", "finalise_s")
            if k in timings
        )
        extra = f"({summary['cell_count']} cells; stage s: {stages})"
        return Figures(seconds, mp, _f1(truth, predicted), extra)


async def _start(serve: Any, settings: Any) -> tuple[Runtime, asyncio.Task[None]]:
    bus = await Bus.connect(settings.nats_url, settings.namespace, name="bench-service")
    rt = Runtime(name="bench", settings=settings, bus=bus)
    task = asyncio.create_task(serve(rt))
    while not rt.ready:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return rt, task


async def _wait_success(bus: Bus, tenant: uuid.UUID, workflow: uuid.UUID) -> dict[str, Any]:
    async with bus.feed(subject=f"{bus.names.ns}.evt.{tenant}.{workflow}.>") as feed:
        while True:
            env = await feed.get(timeout=3600)
            if env is None:
                raise TimeoutError("no event for an hour")
            if env.event.type == "JobSucceeded":
                return dict(env.event.summary)  # type: ignore[union-attr]
            if env.event.type == "JobAttemptFailed":
                raise RuntimeError(env.event.reason)  # type: ignore[union-attr]


def forward_path(
    path: Path,
    grid: TileGrid,
    tiles: list[int],
    work: CellWork,
    model: LoadedModel,
    args: argparse.Namespace,
    mp: float,
) -> Figures:
    handle = open_slide(path)
    pixels = np.stack([read_box(handle, grid, grid.tile(i).read) for i in tiles])
    handle.close()
    predictor = Predictor(resolve_model(str(model.path)).module, args.device)
    stats = NormalisationStats(work.stats_low, work.stats_high)
    size = forward_batch_size(0, 0, predictor.device.type)
    for _ in range(WARM_UP_CALLS):  # TorchScript profiles its first calls: not timed
        predictor(pixels[:size], stats)
    t0 = time.perf_counter()
    for start in range(0, len(tiles), size):
        predictor(pixels[start : start + size], stats)
    seconds = time.perf_counter() - t0
    return Figures(seconds, mp, None, f"({len(tiles)} tiles, batch {size}, {predictor.precision})")


def _f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    h, w = min(truth.shape[0], predicted.shape[0]), min(truth.shape[1], predicted.shape[1])
    return match_instances(truth[:h, :w].astype(np.int64), predicted[:h, :w]).f1


# --- peak RSS per service ---------------------------------------------------------------


def rss_mode(args: argparse.Namespace, work: Path, setting: str, sizes: list[int]) -> int:
    print(f"peak RSS (VmHWM) per service process; model {setting}; tissue ~30%")
    print(f"{'slide side':>10s} {'tiles':>6s} {'seconds':>8s}  tiler    inference  merger")
    for size in sizes:
        slides = work / f"rss{size}"
        slide = write_synthetic_slide(
            slides / "s.svs", size, size, mpp=args.mpp, seed=5, tissue_fraction=0.3
        )
        peaks, seconds, tiles = _run_processes(slides, slide.path.name, setting, args)
        print(
            f"{size:>10d} {tiles:>6d} {seconds:>8.0f}  "
            + "  ".join(f"{peaks[s] / 1024:6.0f} MB" for s in ("tiler", "inference", "merger"))
        )
    return 0


def _run_processes(
    root: Path, slide: str, setting: str, args: argparse.Namespace
) -> tuple[dict[str, int], float, int]:
    with contextlib.ExitStack() as stack:
        url = os.environ.get("NATS_URL") or stack.enter_context(
            nats_server(Path(stack.enter_context(tempfile.TemporaryDirectory())))
        )
        results = stack.enter_context(tempfile.TemporaryDirectory())
        env = {
            **os.environ,
            "NATS_URL": url,
            "TESSERA_NAMESPACE": f"rss{uuid.uuid4().hex[:8]}",
            "TESSERA_DATA_ROOT": str(root),
            "TESSERA_RESULTS_ROOT": results,
            "TESSERA_LOG_LEVEL": "WARNING",
            "TESSERA_INFERENCE_THREADS": str(args.threads),
            "TESSERA_INFERENCE_DEVICE": args.device,
        }
        procs = {
            name: subprocess.Popen(
                [sys.executable, "-m", "tessera.cli", "serve", name],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name in ("merger", "inference", "tiler")
        }
        try:
            t0 = time.perf_counter()
            summary = asyncio.run(_submit_and_wait(url, env["TESSERA_NAMESPACE"], slide, setting))
            seconds = time.perf_counter() - t0
            peaks = {name: _peak_rss_kb(p.pid) for name, p in procs.items()}
        finally:
            for p in procs.values():
                p.send_signal(signal.SIGTERM)
            for p in procs.values():
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
    return peaks, seconds, int(summary["tiles_total"])


async def _submit_and_wait(url: str, ns: str, slide: str, setting: str) -> dict[str, Any]:
    bus = await Bus.connect(url, ns, name="bench-rss")
    await bus.ensure_streams()
    try:
        tenant, workflow = uuid.uuid4(), uuid.uuid4()
        job = JobSpec(id="cells", type="cell_segmentation", slide=slide, params={"model": setting})
        spec = WorkflowSpec(name="rss", jobs=(job,))
        await bus.append(WorkflowSubmitted(tenant_id=tenant, workflow_id=workflow, spec=spec))
        await bus.append(JobStarted(tenant_id=tenant, workflow_id=workflow, job_id="cells"))
        return await _wait_success(bus, tenant, workflow)
    finally:
        await bus.delete_streams()
        await bus.close()


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
