"""`tessera slides ...`: slide tools (mounted by the main CLI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="Slide tools: synthetic test slides.")


@app.callback()
def _slides() -> None:
    """Slide tools: synthetic test slides."""


@app.command()
def synth(
    output: Annotated[Path, typer.Argument(help="Path of the .svs file to write.")],
    width: Annotated[int, typer.Option(min=1, help="Level-0 width in pixels.")] = 20_000,
    height: Annotated[int, typer.Option(min=1, help="Level-0 height in pixels.")] = 20_000,
    mpp: Annotated[float, typer.Option(min=0.01, help="Pixel size in µm.")] = 0.25,
    seed: Annotated[int, typer.Option(help="Seed of the scene.")] = 0,
    tissue_fraction: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of the slide covered by tissue.")
    ] = 0.5,
    quality: Annotated[int, typer.Option(min=1, max=100, help="JPEG quality.")] = 85,
    ground_truth: Annotated[
        Path | None,
        typer.Option(help="Ground-truth nuclei table (default: <slide>.nuclei.parquet)."),
    ] = None,
) -> None:
    """Write a synthetic Aperio SVS with nuclei at known positions, and its ground truth."""
    from tessera.slides.synth import write_synthetic_slide

    result = write_synthetic_slide(
        output,
        width,
        height,
        mpp=mpp,
        seed=seed,
        tissue_fraction=tissue_fraction,
        quality=quality,
        ground_truth=ground_truth,
    )
    typer.echo(
        json.dumps(
            {
                "slide": str(result.path),
                "ground_truth": str(result.ground_truth),
                "levels": [list(d) for d in result.level_dimensions],
                "mpp": result.mpp,
                "nuclei": result.nuclei,
                "bytes": result.path.stat().st_size,
                "seconds": round(result.seconds, 2),
            }
        )
    )
