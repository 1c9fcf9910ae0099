from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from tessera.errors import SlideError
from tessera.slides.access import (
    open_slide,
    read_slide_info,
    require_mpp,
    resolve_slide,
    slide_info,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "a.svs").write_bytes(b"x")
    (tmp_path / "outside.svs").write_bytes(b"x")
    return data


def test_resolves_a_relative_path_inside_the_root(root: Path) -> None:
    assert resolve_slide(root, "sub/a.svs") == (root / "sub" / "a.svs").resolve()


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("/etc/passwd", "absolute"),
        ("C:\\slides\\a.svs", "absolute"),
        ("../outside.svs", "'..'"),
        ("sub/../../outside.svs", "'..'"),
        ("sub\\..\\..\\outside.svs", "'..'"),
        ("", "empty"),
        ("sub/missing.svs", "no such file"),
        ("sub", "folder without DICOM instances"),
        ("a\x00b", "NUL"),
    ],
)
def test_rejects_unsafe_or_missing_references(root: Path, ref: str, reason: str) -> None:
    with pytest.raises(SlideError) as err:
        resolve_slide(root, ref)
    assert reason in err.value.reason
    assert err.value.slide == ref


def test_rejects_a_symlink_that_escapes_the_root(root: Path) -> None:
    os.symlink(root.parent / "outside.svs", root / "escape.svs")
    with pytest.raises(SlideError, match="outside the data root"):
        resolve_slide(root, "escape.svs")


def test_rejects_a_symlinked_directory_that_escapes_the_root(root: Path) -> None:
    os.symlink(root.parent, root / "up")
    with pytest.raises(SlideError, match="outside the data root"):
        resolve_slide(root, "up/outside.svs")


def test_accepts_a_symlink_that_stays_inside_the_root(root: Path) -> None:
    os.symlink(root / "sub" / "a.svs", root / "alias.svs")
    assert resolve_slide(root, "alias.svs") == (root / "sub" / "a.svs").resolve()


def test_reads_aperio_metadata_of_a_real_slide(cmu_small: Path) -> None:
    info = read_slide_info(cmu_small.parent, cmu_small.name)
    assert info.vendor == "aperio"
    assert (info.width, info.height) == (2220, 2967)
    assert info.level_count == 1
    assert info.level_downsamples == (1.0,)
    assert info.mpp_x == pytest.approx(0.499)
    assert require_mpp(info) == pytest.approx(0.499)
    assert info.level_mpp(0) == pytest.approx(0.499)


def test_synthetic_slide_metadata(synthetic_slide) -> None:
    handle = open_slide(synthetic_slide.path)
    try:
        info = slide_info(handle, "small.svs")
    finally:
        handle.close()
    assert info.vendor == "aperio"
    assert info.level_dimensions == ((1600, 1200), (400, 300))
    assert info.level_downsamples == pytest.approx((1.0, 4.0))
    assert info.mpp_x == pytest.approx(0.25)
    assert info.level_mpp(1) == pytest.approx(1.0)


def test_garbage_file_is_a_clear_slide_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.svs"
    bad.write_bytes(b"this is not a slide" * 100)
    with pytest.raises(SlideError, match="not a slide format"):
        open_slide(bad, "bad.svs")


def test_truncated_slide_is_a_clear_slide_error(tmp_path: Path, cmu_small: Path) -> None:
    cut = tmp_path / "cut.svs"
    cut.write_bytes(cmu_small.read_bytes()[:20_000])
    with pytest.raises(SlideError) as err:
        handle = open_slide(cut, "cut.svs")
        # Some truncations open and only fail when pixels are read.
        handle.read_region((0, 0), 0, (2220, 2967))
    assert err.value.slide in ("cut.svs", str(cut))


def test_slide_without_pixel_size_needs_one_from_the_job(tmp_path: Path) -> None:
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.full((512, 512, 3), 200, np.uint8), tile=(256, 256))
    info = read_slide_info(tmp_path, "plain.tif")
    assert info.mpp_x is None
    with pytest.raises(SlideError, match="no pixel size"):
        require_mpp(info)
    assert require_mpp(info, 0.5) == 0.5
    with pytest.raises(SlideError, match="not plausible"):
        require_mpp(info, 0.0)


def test_implausible_or_anisotropic_pixel_sizes_are_refused(cmu_small: Path) -> None:
    info = read_slide_info(cmu_small.parent, cmu_small.name)
    with pytest.raises(SlideError, match="not plausible"):
        require_mpp(info.model_copy(update={"mpp_x": 1000.0}))
    with pytest.raises(SlideError, match="non-square"):
        require_mpp(info.model_copy(update={"mpp_y": 0.8}))
