"""`tessera model train | export | evaluate` end to end on a tiny network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tessera.segmentation.cli import app
from tessera.segmentation.export import read_metadata

runner = CliRunner()


@pytest.mark.slow
def test_train_export_evaluate(tmp_path: Path) -> None:
    run = tmp_path / "run"
    trained = runner.invoke(
        app,
        ["train", "--out", str(run), "--steps", "1", "--minutes", "5", "--layers", "8-16",
         "--tile-size", "64", "--batch-size", "2", "--validation-tiles", "1", "--threads", "1",
         "--no-progress"],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert (run / "tessera_he_nuclei" / "instanseg.pt").exists()

    exported = runner.invoke(
        app, ["export", str(run / "checkpoint.pt"), "--out", str(tmp_path / "again")]
    )
    assert exported.exit_code == 0, exported.output
    assert read_metadata(tmp_path / "again" / "instanseg.pt")["training"]["steps"] == 1

    evaluated = runner.invoke(
        app,
        ["evaluate", str(tmp_path / "again"), "--synthetic-tiles", "1", "--tile-size", "64",
         "--device", "cpu", "--precision", "fp32"],
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    # instanseg's scripted post-processing may print notes first; the report is the JSON at the end
    report = json.loads(evaluated.stdout[evaluated.stdout.index("{\n") :])
    assert report["model"] == "again" and len(report["model_sha256"]) == 64
    assert report["nucls_train"]["tiles"] == 8 and report["nucls_held_out"]["tiles"] == 2
