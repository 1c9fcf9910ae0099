"""`tessera model ...`: train, export and evaluate the bundled InstanSeg model.

The main CLI mounts `app` as `tessera model`; it also runs alone with
`python -m tessera.segmentation.cli`, which is how the GPU script calls it (no service
dependencies needed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Train, export and evaluate Tessera's bundled InstanSeg model.")


def _layers(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.replace(",", "-").split("-") if part)


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="Folder for checkpoint.pt, metrics.json, the model")],
    minutes: Annotated[float | None, typer.Option(help="Time budget, resumed runs included")] = 30,
    steps: Annotated[int | None, typer.Option(help="Step budget (with or instead of minutes)")] = (
        None
    ),
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")] = "auto",
    batch_size: Annotated[int, typer.Option()] = 8,
    tile_size: Annotated[int, typer.Option(help="Training tile side in px at the model's size")] = (
        128
    ),
    layers: Annotated[str, typer.Option(help="UNet widths, e.g. 16-32-64-128")] = "16-32-64-128",
    lr: Annotated[float, typer.Option()] = 1e-3,
    real_fraction: Annotated[float, typer.Option(help="Share of NuCLS samples per batch")] = 0.5,
    workers: Annotated[int, typer.Option(help="Data-loader processes (0: in-process)")] = 0,
    threads: Annotated[int | None, typer.Option(help="torch threads (default: torch's)")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    warmup: Annotated[float, typer.Option(help="Budget share with InstanSeg's dice warm-up")] = (
        0.15
    ),
    validate_every: Annotated[float, typer.Option(help="Minutes between validations")] = 5.0,
    checkpoint_every: Annotated[float, typer.Option(help="Minutes between checkpoints")] = 2.0,
    validation_tiles: Annotated[int, typer.Option(help="Held-out synthetic tiles")] = 16,
    data_dir: Annotated[Path | None, typer.Option(help="NuCLS folder (images/, masks/)")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from out/checkpoint.pt if present")] = (
        True
    ),
    amp: Annotated[bool, typer.Option(help="bf16 autocast where the device has it")] = True,
    progress: Annotated[bool, typer.Option(help="Show the progress bar")] = True,
) -> None:
    """Train with instanseg's network and loss on synthetic + NuCLS tiles, then export."""
    from tessera.segmentation.network import Architecture
    from tessera.segmentation.train import TrainConfig
    from tessera.segmentation.train import train as run_training

    config = TrainConfig(
        out=out,
        architecture=Architecture(layers=_layers(layers)),
        minutes=minutes,
        steps=steps,
        batch_size=batch_size,
        tile_size=tile_size,
        lr=lr,
        real_fraction=real_fraction,
        seed=seed,
        device=device,
        workers=workers,
        threads=threads,
        amp=amp,
        warmup_fraction=warmup,
        validate_every_minutes=validate_every,
        checkpoint_every_minutes=checkpoint_every,
        synthetic_validation_tiles=validation_tiles,
        data_dir=data_dir,
        resume=resume,
        progress=progress,
    )
    result = run_training(config)
    typer.echo(f"model: {result.model_path}")
    typer.echo(json.dumps(result.metrics["final"], indent=2))


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint.pt written by `train`")],
    out: Annotated[Path, typer.Option(help="Folder to hold instanseg.pt")],
) -> None:
    """Export a checkpoint as TorchScript the way InstanSeg exports its published models."""
    from tessera.segmentation.checkpoint import load_trained
    from tessera.segmentation.export import export_model

    model, architecture, state = load_trained(checkpoint)
    path = export_model(model, architecture, out, metadata={"training": {"steps": state.step}})
    typer.echo(f"model: {path}")


@app.command()
def evaluate(
    model: Annotated[str, typer.Argument(help="auto, bundled, a published name or a path")] = (
        "bundled"
    ),
    synthetic_tiles: Annotated[int, typer.Option(help="Held-out synthetic tiles")] = 32,
    tile_size: Annotated[int, typer.Option()] = 256,
    device: Annotated[str, typer.Option()] = "auto",
    precision: Annotated[str, typer.Option(help="auto, fp32, bf16, fp16")] = "auto",
    data_dir: Annotated[Path | None, typer.Option(help="NuCLS folder")] = None,
) -> None:
    """F1 at IoU 0.5 and mean matched IoU on held-out synthetic tiles and on NuCLS."""
    from tessera.segmentation.evaluation import score_nucls, score_synthetic
    from tessera.segmentation.nucls import load_tiles, split_tiles
    from tessera.segmentation.predict import Predictor
    from tessera.segmentation.registry import resolve_model
    from tessera.segmentation.synthetic import held_out_tiles

    loaded = resolve_model(model)
    predictor = Predictor(loaded.module, device=device, precision=precision)  # type: ignore[arg-type]
    train_tiles, held_out = split_tiles(load_tiles(data_dir))
    report = {
        **loaded.summary(),
        "device": str(predictor.device),
        "precision": predictor.precision,
        "synthetic_held_out": score_synthetic(
            predictor, held_out_tiles(synthetic_tiles, tile_size)
        ).as_dict(),
        "nucls_train": score_nucls(predictor, train_tiles, loaded.pixel_size).as_dict(),
        "nucls_held_out": score_nucls(predictor, held_out, loaded.pixel_size).as_dict(),
    }
    typer.echo(json.dumps(report, indent=2))


if __name__ == "__main__":
    app()
