from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openslide
import pytest
from typer.testing import CliRunner

from tessera.slides.cli import app
from tessera.slides.scene import Scene, SceneSpec
from tessera.slides.synth import (
    load_ground_truth,
    load_scene,
    pyramid_factors,
    write_synthetic_slide,
)


def test_openslide_reads_it_as_aperio_with_its_pixel_size(synthetic_slide) -> None:
    slide = openslide.OpenSlide(str(synthetic_slide.path))
    try:
        assert slide.properties["openslide.vendor"] == "aperio"
        assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(0.25)
        assert slide.level_dimensions == ((1600, 1200), (400, 300))
        assert "thumbnail" in slide.associated_images
        assert slide.properties["openslide.level[0].tile-width"] == "256"
    finally:
        slide.close()


def test_nuclei_are_where_the_ground_truth_says(synthetic_slide) -> None:
    spec, nuclei = load_ground_truth(synthetic_slide.ground_truth)
    assert spec.width == 1600 and spec.seed == 11
    assert len(nuclei) == synthetic_slide.nuclei > 50
    assert (nuclei.x - nuclei.a >= 0).all() and (nuclei.x + nuclei.a <= 1600).all()
    slide = openslide.OpenSlide(str(synthetic_slide.path))
    try:
        centres = [
            np.asarray(slide.read_region((int(x), int(y)), 0, (1, 1)))[0, 0, :3]
            for x, y in zip(nuclei.x[:40], nuclei.y[:40], strict=True)
        ]
    finally:
        slide.close()
    assert np.median(np.array(centres)[:, 0]) < 130  # hematoxylin, not stroma or glass


def test_ground_truth_labels_are_the_nuclei(synthetic_slide) -> None:
    scene = load_scene(synthetic_slide.ground_truth)
    _, nuclei = load_ground_truth(synthetic_slide.ground_truth)
    labels = scene.render_labels(0, 0, 1600, 1200, 1.0)
    ids, counts = np.unique(labels[labels > 0], return_counts=True)
    assert set(ids.tolist()) == set(nuclei.id.tolist())
    # Pixel counts follow the analytic ellipse areas.
    area = dict(zip(nuclei.id.tolist(), nuclei.area(), strict=True))
    ratio = counts / np.array([area[i] for i in ids.tolist()])
    assert np.abs(ratio - 1).max() < 0.1


def test_no_tissue_means_no_nuclei_and_white_glass(tmp_path: Path) -> None:
    result = write_synthetic_slide(tmp_path / "blank.svs", 600, 400, tissue_fraction=0.0)
    assert result.nuclei == 0
    slide = openslide.OpenSlide(str(result.path))
    try:
        pixels = np.asarray(slide.read_region((0, 0), 0, (600, 400)))[..., :3]
    finally:
        slide.close()
    assert pixels.min() > 220


def test_tissue_fraction_is_honoured() -> None:
    scene = Scene(SceneSpec(width=4000, height=3000, mpp=0.5, seed=2, tissue_fraction=0.3))
    tissue = scene.render_tissue(0, 0, 400, 300, 10.0)
    assert tissue.mean() == pytest.approx(0.3, abs=0.03)


def test_same_seed_same_scene_different_seed_different_scene() -> None:
    a = Scene(SceneSpec(width=2000, height=2000, mpp=0.5, seed=5)).nuclei()
    b = Scene(SceneSpec(width=2000, height=2000, mpp=0.5, seed=5)).nuclei()
    c = Scene(SceneSpec(width=2000, height=2000, mpp=0.5, seed=6)).nuclei()
    assert np.array_equal(a.x, b.x) and np.array_equal(a.id, b.id)
    assert not np.array_equal(a.id, c.id) or not np.array_equal(a.x, c.x)


def test_sparse_and_dense_nucleus_rendering_agree() -> None:
    scene = Scene(SceneSpec(width=3000, height=3000, mpp=0.25, seed=9))
    for x, y, d in [(300, 400, 1.0), (100, 150, 2.0), (37, 91, 1.7)]:
        sparse = scene._nucleus_field(x, y, 200, 200, d)
        dense = scene._nucleus_field_dense(x, y, 200, 200, d)
        assert np.array_equal(
            np.where(sparse[0] >= 0, sparse[1], 0), np.where(dense[0] >= 0, dense[1], 0)
        )


def test_pyramid_factors() -> None:
    assert pyramid_factors(1000, 800) == [1]
    assert pyramid_factors(1600, 1200) == [1, 4]
    assert pyramid_factors(50_000, 50_000) == [1, 4, 16, 64]


def test_cli_synth_writes_a_slide(tmp_path: Path) -> None:
    out = tmp_path / "cli.svs"
    result = CliRunner().invoke(app, ["synth", str(out), "--width", "700", "--height", "500"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["levels"] == [[700, 500]]
    assert out.exists() and Path(report["ground_truth"]).exists()
